/*
 * input -- message sources for the spamsift command (see input.h).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/input.h"

/* Standard input is read whole, up to this many bytes. */
#define INPUT_STDIN_MAX (256u * 1024 * 1024)

/* What one input_each_admit call passes down to every file. */
typedef struct walk {
	input_fn fn;            /* called for each message */
	input_admit_fn admit;   /* asked for each regular file, or NULL */
	void *arg;              /* the first argument of both */
} walk;

int input_is_mbox(const char *data, size_t len)
{
	return len >= 5 && memcmp(data, "From ", 5) == 0;
}

/*
 * Does the line p[0..n) read as a From_ separator, "From SENDER DATE" with
 * the date as ctime() writes it ("Mon Jan  1 00:00:00 2026")? A body line
 * "From here on..." after a blank line is text in mboxo files (only mboxrd
 * writers quote it): mutt and Dovecot split only where a date follows, so
 * a weekday and a month name must (the sender may be "-" or have blanks).
 */
static int from_line(const char *p, size_t n)
{
	static const char days[] = "MonTueWedThuFriSatSun";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

	if (n < 5 || memcmp(p, "From ", 5) != 0)
		return 0;
	for (size_t i = 5; i + 9 <= n; i++) {
		size_t j = i + 3, k;

		if (p[i - 1] != ' ' && p[i - 1] != '\t')
			continue;
		for (k = 0; k < 21 && memcmp(p + i, days + k, 3) != 0; k += 3)
			;
		if (k == 21)
			continue;
		while (j < n && (p[j] == ' ' || p[j] == '\t'))
			j++;
		if (j == i + 3 || j + 4 > n)
			continue;
		for (k = 0; k < 36 && memcmp(p + j, months + k, 3) != 0; k += 3)
			;
		if (k < 36 && (p[j + 3] == ' ' || p[j + 3] == '\t'))
			return 1;
	}
	return 0;
}

int input_mbox_split(const char *label, const char *data, size_t len,
    input_fn fn, void *arg)
{
	char name[4096];
	size_t pos = 0, start = 0, n = 0;
	int in_msg = 0, rc;

	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - data) + 1 : len;
		/* The first line made it an mbox (input_is_mbox). */
		int sep = pos == 0 ? input_is_mbox(data, len) :
		    ((pos >= 2 && data[pos - 2] == '\n') ||
		    (pos >= 3 && data[pos - 2] == '\r' && data[pos - 3] == '\n')) &&
		    from_line(data + pos, end - pos);

		if (sep) {
			if (in_msg) {
				snprintf(name, sizeof(name), "%s#%zu", label, ++n);
				rc = fn(arg, name, data + start, pos - start);
				if (rc != 0)
					return rc;
			}
			in_msg = 1;
			start = end;
		}
		pos = end;
	}
	if (in_msg) {
		snprintf(name, sizeof(name), "%s#%zu", label, ++n);
		return fn(arg, name, data + start, len - start);
	}
	return 0;
}

static int each_buffer(const char *label, const char *data, size_t len,
    input_fn fn, void *arg)
{
	if (input_is_mbox(data, len))
		return input_mbox_split(label, data, len, fn, arg);
	return fn(arg, label, data, len);
}

/*
 * Files up to SMALL_FILE bytes are read into one reused buffer: one read()
 * costs less than mmap, page faults and munmap for a typical message
 * (measured on the SpamAssassin corpus, contrib/bench/store.sh). Larger ones
 * are mapped.
 */
#define SMALL_FILE (256 * 1024)

/* Read a small regular file whole into a reused buffer (borrowed). */
static int read_small(int fd, size_t size, const char **out)
{
	static char *buf;
	static size_t cap;
	size_t len = 0;

	if (cap < size) {
		char *nb = realloc(buf, SMALL_FILE);

		if (nb == NULL)
			return -ENOMEM;
		buf = nb;
		cap = SMALL_FILE;
	}
	while (len < size) {
		ssize_t n = read(fd, buf + len, size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;  /* truncated meanwhile: take what is there */
		len += (size_t)n;
	}
	*out = buf;
	return (int)len;
}

static int each_file(const char *path, const walk *w, char *err,
    size_t errlen)
{
	struct stat st;
	void *map;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: not a regular file", path);
		return -EINVAL;
	}
	/* Asked of the file opened: a name that changes meanwhile cannot
	 * make the answer about another file. */
	if (w->admit != NULL && (rc = w->admit(w->arg, path, &st)) != 0) {
		close(fd);
		if (rc < 0)
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc < 0 ? rc : 0;
	}
	if (st.st_size == 0) {
		close(fd);
		return w->fn(w->arg, path, "", 0);
	}
	if (st.st_size <= SMALL_FILE) {
		const char *data = NULL;

		rc = read_small(fd, (size_t)st.st_size, &data);
		close(fd);
		if (rc < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
			return rc;
		}
		return each_buffer(path, data, (size_t)rc, w->fn, w->arg);
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	rc = each_buffer(path, map, (size_t)st.st_size, w->fn, w->arg);
	munmap(map, (size_t)st.st_size);
	return rc;
}

static int each_stdin(input_fn fn, void *arg, char *err, size_t errlen)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	ssize_t n;
	int rc;

	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			char *nb;

			if (cap >= INPUT_STDIN_MAX) {
				/* Full at the limit: too big only if more
				 * comes (a message of exactly the limit was
				 * refused). */
				char more;

				do
					n = read(STDIN_FILENO, &more, 1);
				while (n < 0 && errno == EINTR);
				if (n == 0)
					break;
				free(buf);
				if (n < 0) {
					rc = -errno;
					snprintf(err, errlen, "-: %s", strerror(errno));
					return rc;
				}
				snprintf(err, errlen, "-: standard input larger than %u bytes",
				    INPUT_STDIN_MAX);
				return -EFBIG;
			}
			nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "-: %s", strerror(errno));
			free(buf);
			return rc;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	rc = each_buffer("-", buf, len, fn, arg);
	free(buf);
	return rc;
}

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Folders nested deeper than this below an input are not read (named on
 * stderr): each level holds a path and its listing on the stack of the
 * reading thread.
 */
#define INPUT_MAX_DEPTH 32

/* A folder being read and the one it is in: a link back to one is a loop. */
typedef struct dirchain {
	dev_t dev;                      /* st_dev */
	ino_t ino;                      /* st_ino */
	const struct dirchain *up;      /* the folder it is in, NULL at the input */
} dirchain;

/* What could not be read below an input (each is named on stderr). */
typedef struct lost {
	size_t files;           /* files */
	size_t dirs;            /* folders */
} lost;

static int each_dir(const char *dir, const walk *w, const dirchain *up,
    int depth, lost *lo, char *err, size_t errlen);

/* The names in dir but dot files, sorted; *out NULL when there are none. */
static int list_dir(const char *dir, char ***out, size_t *count, char *err,
    size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	*out = NULL;
	*count = 0;
	if (d == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return rc;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap ? cap * 2 : 64) * sizeof(*nn));

			if (nn == NULL) {
				rc = -ENOMEM;
				break;
			}
			names = nn;
			cap = cap ? cap * 2 : 64;
		}
		names[n] = strdup(e->d_name);
		if (names[n] == NULL) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
		return rc;
	}
	/* An empty directory leaves names NULL, which qsort must not get. */
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	*out = names;
	*count = n;
	return 0;
}

/*
 * Every regular file of dir (no dot files) in name order and, unless dir
 * is a Maildir's cur/ or new/ (in_maildir), every folder among them as
 * each_dir reads it: a folder of folders of mail (by year, by list) is
 * read whole, as sa-learn reads one. A file or folder that cannot be read
 * is named and counted in lo, and the others are still read; what fn
 * returns (non-zero) stops it and is returned. self: dir, for each_dir.
 */
static int each_dir_entries(const char *dir, const walk *w,
    const dirchain *self, int depth, int in_maildir, lost *lo, char *err,
    size_t errlen)
{
	char **names;
	size_t n;
	int rc = list_dir(dir, &names, &n, err, errlen);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char path[4096];
		struct stat st;
		int isdir;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    names[i]) >= sizeof(path)) {
			fprintf(stderr, "spamsift: %s/%s: %s\n", dir, names[i],
			    strerror(ENAMETOOLONG));
			lo->files++;
			continue;
		}
		if (stat(path, &st) != 0)
			continue;       /* gone meanwhile, or a dangling link */
		isdir = S_ISDIR(st.st_mode);
		if (isdir && in_maildir) {
			fprintf(stderr, "spamsift: warning: %s: a folder in a "
			    "Maildir's cur/ or new/, not read\n", path);
			continue;
		}
		if (!isdir && !S_ISREG(st.st_mode))
			continue;
		/*
		 * A file or folder that cannot be read is reported and
		 * skipped: the others are still read (what fn returns still
		 * stops it).
		 */
		err[0] = '\0';
		rc = isdir ? each_dir(path, w, self, depth + 1, lo, err, errlen) :
		    each_file(path, w, err, errlen);
		if (rc < 0 && err[0] != '\0') {
			fprintf(stderr, "spamsift: %s\n", err);
			if (isdir)
				lo->dirs++;
			else
				lo->files++;
			rc = 0;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/*
 * A folder: a Maildir's cur/ and new/ when it has either (tmp/ is mail in
 * flight; its subfolders, ".Name", are folders of their own), else its
 * files and folders (each_dir_entries). Returns 0, fn's non-zero value, or
 * a negative errno with err set when dir itself cannot be read.
 */
static int each_dir(const char *dir, const walk *w, const dirchain *up,
    int depth, lost *lo, char *err, size_t errlen)
{
	static const char *const parts[] = { "cur", "new" };
	char sub[4096];
	struct stat st;
	dirchain self;
	int maildir = 0, rc;

	if (stat(dir, &st) != 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return rc;
	}
	for (const dirchain *c = up; c != NULL; c = c->up)
		if (c->dev == st.st_dev && c->ino == st.st_ino) {
			fprintf(stderr, "spamsift: warning: %s: a link to a "
			    "folder it is in, not read again\n", dir);
			return 0;
		}
	if (depth > INPUT_MAX_DEPTH) {
		fprintf(stderr, "spamsift: warning: %s: more than %d folders "
		    "deep, not read\n", dir, INPUT_MAX_DEPTH);
		return 0;
	}
	self.dev = st.st_dev;
	self.ino = st.st_ino;
	self.up = up;
	for (size_t i = 0; i < 2; i++) {
		snprintf(sub, sizeof(sub), "%s/%s", dir, parts[i]);
		if (!is_dir(sub))
			continue;
		maildir = 1;
		err[0] = '\0';
		rc = each_dir_entries(sub, w, &self, depth, 1, lo, err, errlen);
		if (rc < 0 && err[0] != '\0') {
			/* cur/ that cannot be read does not skip new/ */
			fprintf(stderr, "spamsift: %s\n", err);
			lo->dirs++;
			rc = 0;
		}
		if (rc != 0)
			return rc;      /* fn stopped it */
	}
	if (maildir)
		return 0;
	return each_dir_entries(dir, w, &self, depth, 0, lo, err, errlen);
}

int input_each(const char *path, input_fn fn, void *arg, char *err,
    size_t errlen)
{
	return input_each_admit(path, NULL, fn, arg, err, errlen);
}

int input_each_admit(const char *path, input_admit_fn admit, input_fn fn,
    void *arg, char *err, size_t errlen)
{
	const walk w = { fn, admit, arg };
	lost lo = { 0, 0 };
	int rc;

	if (strcmp(path, "-") == 0)
		return each_stdin(fn, arg, err, errlen);
	if (!is_dir(path))
		return each_file(path, &w, err, errlen);
	err[0] = '\0';
	rc = each_dir(path, &w, NULL, 0, &lo, err, errlen);
	if (rc == 0 && (lo.files > 0 || lo.dirs > 0)) {
		char f[64] = "", d[64] = "";

		if (lo.files > 0)
			snprintf(f, sizeof(f), "%zu file%s", lo.files,
			    lo.files == 1 ? "" : "s");
		if (lo.dirs > 0)
			snprintf(d, sizeof(d), "%zu folder%s", lo.dirs,
			    lo.dirs == 1 ? "" : "s");
		snprintf(err, errlen, "%s: %s%s%s could not be read", path, f,
		    f[0] && d[0] ? " and " : "", d);
		return -EIO;
	}
	return rc;
}
