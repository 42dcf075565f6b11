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
				free(buf);
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

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir (not recursive, no dot files), in name order. */
static int each_dir_files(const char *dir, const walk *w, char *err,
    size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, unreadable = 0;
	int rc = 0;

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
	/* An empty directory leaves names NULL, which qsort must not get. */
	if (rc == 0 && n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		/*
		 * A file that cannot be read is reported and skipped: the
		 * others are still read (what fn returns still stops it).
		 */
		err[0] = '\0';
		rc = each_file(path, w, err, errlen);
		if (rc < 0 && err[0] != '\0') {
			fprintf(stderr, "spamsift: %s\n", err);
			unreadable++;
			rc = 0;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (rc == 0 && unreadable > 0) {
		snprintf(err, errlen, "%s: %zu file%s could not be read", dir,
		    unreadable, unreadable == 1 ? "" : "s");
		return -EIO;
	}
	return rc;
}

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
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
	char sub[4096];
	int rc = 0, maildir = 0;

	if (strcmp(path, "-") == 0)
		return each_stdin(fn, arg, err, errlen);
	if (!is_dir(path))
		return each_file(path, &w, err, errlen);
	/* A Maildir: messages live in cur/ and new/ (tmp/ is in flight). */
	static const char *const parts[] = { "cur", "new" };
	for (size_t i = 0; i < 2; i++) {
		char e2[1024], *e = rc < 0 ? e2 : err;
		size_t elen = rc < 0 ? sizeof(e2) : errlen;
		int r;

		snprintf(sub, sizeof(sub), "%s/%s", path, parts[i]);
		if (!is_dir(sub))
			continue;
		maildir = 1;
		e[0] = '\0';
		r = each_dir_files(sub, &w, e, elen);
		if (r > 0 || (r < 0 && e[0] == '\0'))
			return r;       /* fn stopped it */
		/* files of cur/ that could not be read do not skip new/ */
		if (rc == 0)
			rc = r;
	}
	if (!maildir)
		rc = each_dir_files(path, &w, err, errlen);
	return rc;
}
