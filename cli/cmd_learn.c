/*
 * cmd_learn -- `spamsift train|retrain|classify|tokens` (see learn.h): read
 * messages with cli/input, tokenize them with the classifier's streaming
 * parser, and classify or learn through classifier/filter.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <inttypes.h>
#include <magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "classifier/delivered.h"
#include "classifier/filter.h"
#include "classifier/msg.h"
#include "classifier/tok.h"
#include "cli/cli.h"
#include "cli/fileset.h"
#include "cli/input.h"
#include "cli/learn.h"
#include "cli/sigscan.h"
#include "conf/profile.h"

/*
 * `train` defers its writes (db_defer): the counts of many messages are
 * combined in memory, with no transaction open, and written in key order
 * in one short transaction when about TRAIN_DEFER_BYTES are combined, every
 * TRAIN_FLUSH_MS milliseconds, and at the end. One write per token and
 * flush instead of one per token and message makes training several times
 * faster, and the write lock is held only while a flush writes (a milter
 * writing to the same store waits for it at most that long). A flush is all
 * or nothing: a trainer killed in between loses the messages since its
 * last flush, never part of one.
 */
#define TRAIN_DEFER_BYTES ((size_t)128 << 20)
#define TRAIN_FLUSH_MS 10000

/*
 * `classify` reads through a token cache (db_cache) of this size: after a
 * few messages the user's (and the global) model is read whole, in one
 * scan, and every later lookup is answered from memory. Still coherent with
 * a milter or another `train` writing the store meanwhile.
 */
#define CLASSIFY_CACHE_BYTES ((size_t)128 << 20)

/*
 * With a directory among the inputs (a batch), the models are read into that
 * cache before the first message (db_cache_prefetch): one scan each, and no
 * message waits for the store. Measured on the corpus half, this beats
 * loading them in a second thread while the first messages are parsed: the
 * lookups of those messages go to the store meanwhile (9% of the run), and
 * on a busy machine the second thread gets no core of its own. Single files
 * and standard input do not pay for a whole model.
 */
/* Is any of the operands argv[first..argc) a directory? */
static int has_dir(int argc, char **argv, int first)
{
	struct stat st;

	for (int i = first; i < argc; i++)
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			return 1;
	return 0;
}

/* State shared by the per-message callbacks. */
/* The delivered forms error_forms makes: none to DELIVERED_MAX_RECEIVED
 * Received fields off, each with and without a Subject of the tag alone. */
#define DELIVERED_FORMS (2 * (DELIVERED_MAX_RECEIVED + 1))

typedef struct run {
	cli *c;                 /* command state */
	msg *parser;            /* streaming parser */
	tokset *toks;           /* tokens of the current message */
	magic_t magic;          /* libmagic handle for attachments */
	profile prof;           /* the user's effective settings */
	profile_parse pp;       /* parser options */
	const char *user;       /* canonical user name */
	int64_t uid;            /* its id */
	int source;             /* train: FILTER_SRC_* */
	int source_set;         /* train: --source was given */
	int explain;            /* classify: print factors */
	const char *sole;       /* tokens: the only input named, else NULL */
	const char *format;     /* classify: text|tsv|json */
	fileset *seen;          /* classify --train: the files read, else NULL */
	size_t n;               /* messages handled */
	size_t nstored;         /* train: messages whose writes are in the store */
	struct timespec flushed; /* train: when the deferred writes were last flushed */
	int rc;                 /* first CLI_* error */
	/* train --source error: the forms a message may have had when it
	 * was classified (error_forms), made by parser, into these */
	tokset *forms[DELIVERED_FORMS];
} run;

/* An X-Spamsift-Signature field's id, the line starting at p. */
static int sig_field_at(const char *p, const char *end, char id[33])
{
	static const char hdr[] = "X-Spamsift-Signature:";
	size_t hl = sizeof(hdr) - 1;

	if ((size_t)(end - p) < hl || strncasecmp(p, hdr, hl) != 0)
		return 0;
	/* Blanks, and line breaks that fold the field (RFC 5322: a
	 * client or a hop may put the id on a line of its own). */
	for (p += hl; p < end; p++) {
		size_t nl = *p == '\n' ? 1 : *p == '\r' && end - p > 1 &&
		    p[1] == '\n' ? 2 : 0;

		if (nl > 0 && end - p > (ptrdiff_t)nl &&
		    (p[nl] == ' ' || p[nl] == '\t'))
			p += nl;
		else if (*p != ' ' && *p != '\t')
			break;
	}
	return sigscan_id_at(p, end, id);
}

/* Reverse the order of ids[0..n). */
static void reverse(char (*ids)[33], size_t n)
{
	char tmp[33];

	for (size_t a = 0, b = n; a + 1 < b; a++, b--) {
		memcpy(tmp, ids[a], 33);
		memcpy(ids[a], ids[b - 1], 33);
		memcpy(ids[b - 1], tmp, 33);
	}
}

/* The line at i of data[0..len) is empty: LF or CRLF alone. */
static int empty_line(const char *data, size_t i, size_t len)
{
	return data[i] == '\n' || (data[i] == '\r' && i + 1 < len &&
	    data[i + 1] == '\n');
}

/*
 * Where the body of a message starts: after the first empty line (LF or
 * CRLF), else len. The parser ends the header there or before (a bare CR
 * ends a line for it too).
 */
static size_t header_end(const char *data, size_t len)
{
	for (size_t i = 0; i < len; ) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t next = nl ? (size_t)(nl - data) + 1 : len;

		if (empty_line(data, i, len))
			return next;
		i = next;
	}
	return len;
}

size_t learn_signatures(const char *data, size_t len, char (*ids)[33],
    size_t max, size_t *bodyp)
{
	static const char mark[] = SIGSCAN_MARK;
	size_t ml = sizeof(mark) - 1, n = 0, body = len;
	size_t nbody = 0, first;
	const char *end = data + len;

	if (max == 0) {
		if (bodyp != NULL)
			*bodyp = header_end(data, len);
		return 0;
	}
	/* The header's fields, and its end (as header_end) in the same pass. */
	for (size_t i = 0; i < len; ) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t next = nl ? (size_t)(nl - data) + 1 : len;

		if (empty_line(data, i, len)) {
			body = next;
			break;
		}
		if (n < max && sig_field_at(data + i, end, ids[n]))
			n++;
		i = next;
	}
	if (bodyp != NULL)
		*bodyp = body;
	/*
	 * The body: every mark, kept in a ring of the last max - n after the
	 * header's, then turned to last first.
	 */
	first = n;
	for (size_t i = body; i < len && first < max; i++) {
		char id[33];

		if (((i == body || data[i - 1] == '\n') && sig_field_at(data + i,
		    end, id)) || (data[i] == '!' && len - i > ml &&
		    memcmp(data + i, mark, ml) == 0 && sigscan_id_at(data + i + ml,
		    end, id)))
			memcpy(ids[first + nbody++ % (max - first)], id, 33);
	}
	if (nbody <= max - first) {
		reverse(ids + first, nbody);
		n += nbody;
	} else {        /* the ring's oldest is at nbody % (max - first) */
		size_t r = nbody % (max - first);

		reverse(ids + first, r);
		reverse(ids + first + r, max - first - r);
		n = max;
	}
	return n;
}

/* The parser's decoded text of an encoded part, to look for marks in. */
static void scan_text(void *arg, const char *s, size_t n)
{
	sigscan_feed(arg, s, n);
}

/*
 * A parser with the configured options and a libmagic handle of its own
 * (NULL when libmagic cannot load: no attach:magic tokens), giving the
 * decoded text of encoded parts to scan (NULL: nowhere). 0 or -ENOMEM;
 * *magic and *parser are set either way (free them with parser_close).
 */
static int parser_open(const cli *c, sigscan *scan, magic_t *magic,
    profile_parse *pp, msg **parser)
{
	*magic = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS);
	if (*magic != NULL && magic_load(*magic, NULL) != 0) {
		magic_close(*magic);
		*magic = NULL;
	}
	profile_parser(c->cf, *magic, pp);
	if (scan != NULL) {
		pp->opts.encoded_text = scan_text;
		pp->opts.encoded_arg = scan;
	}
	return msg_new(&pp->opts, parser);
}

static void parser_close(magic_t magic, msg *parser)
{
	msg_free(parser);
	if (magic != NULL)
		magic_close(magic);
}

static int run_open(run *r, cli *c, int keep_text)
{
	memset(r, 0, sizeof(*r));
	r->c = c;
	if (parser_open(c, NULL, &r->magic, &r->pp, &r->parser) < 0 ||
	    tokset_new((size_t)conf_int(c->cf, "MaxTokens"), keep_text, &r->toks) < 0) {
		fprintf(stderr, "spamsift: out of memory\n");
		return CLI_STORE;
	}
	return CLI_OK;
}

static void run_close(run *r)
{
	fileset_free(r->seen);
	parser_close(r->magic, r->parser);
	tokset_free(r->toks);
	for (size_t k = 0; k < DELIVERED_FORMS; k++)
		tokset_free(r->forms[k]);
}

/* Tokenize one whole message into toks with parser p. */
static int parse_into(msg *p, tokset *toks, const char *data, size_t len)
{
	int rc;

	tokset_clear(toks);
	msg_reset(p, toks);
	rc = msg_write(p, data, len);
	if (rc == 0)
		rc = msg_end(p);
	return rc;
}

/* Tokenize one whole message into r->toks. */
static int tokenize(run *r, const char *data, size_t len)
{
	return parse_into(r->parser, r->toks, data, len);
}

static const char *class_name(int cls)
{
	switch (cls) {
	case BAYES_SPAM: return "spam";
	case BAYES_WHITELISTED: return "whitelisted";
	case BAYES_BLOCKLISTED: return "blocklisted";
	default: return "innocent";
	}
}

/*
 * classify --train learns each file once in a run, as train does, whatever
 * names reach it (the same path twice, a link beside it): it was learned,
 * its tokens counted, as many times. The other names are said on stderr,
 * as they get no verdict line. An empty file is not recorded: each name
 * of it is said to be empty, as it is without --train.
 */
static int admit_once(void *arg, const char *path, const struct stat *st)
{
	run *r = arg;
	int rc;

	if (st->st_size == 0)
		return 0;
	rc = fileset_add(r->seen, st->st_dev, st->st_ino, 0, NULL);
	if (rc == 0) {
		fflush(stdout);         /* after the verdicts before it */
		fprintf(stderr, "spamsift: warning: %s: the same file as one "
		    "read before: not read again\n", path);
	}
	return rc < 0 ? rc : rc == 0;
}

/*
 * Feed every message of the operands argv[first..argc) (standard input when
 * there are none) to fn, each file once when r->seen is set; errors reading
 * an input set r->rc = CLI_INPUT, and a store error (r->rc = CLI_STORE) or
 * output that can no longer be written (a reader that closed the pipe: main
 * reports it) stops the run.
 */
static void for_each_input(run *r, int argc, char **argv, int first,
    input_fn fn)
{
	char err[1024];

	for (int i = first; i <= argc && r->rc != CLI_STORE && !ferror(stdout); i++) {
		const char *path = i < argc ? argv[i] : "-";

		if (i == argc && first < argc)
			break;
		if ((r->seen != NULL ? input_each_admit(path, admit_once, fn, r,
		    err, sizeof(err)) : input_each(path, fn, r, err,
		    sizeof(err))) < 0 && r->rc == 0) {
			fprintf(stderr, "spamsift: %s\n", err);
			r->rc = CLI_INPUT;
		}
	}
}

/*
 * An empty file, or nothing on standard input (an empty cron pipe), is not
 * a message: said, exit 2, as train does (classify gave it a verdict and,
 * with --train, learned it). Returns 1 when len is 0.
 */
static int empty_input(run *r, const char *label, size_t len, const char *what)
{
	if (len > 0)
		return 0;
	fprintf(stderr, "spamsift: %s: empty, not %s\n", label, what);
	r->rc = CLI_INPUT;
	return 1;
}

/* ---- train ---- */

/*
 * `train` runs in threads: a reader copies each message of the inputs into
 * a ring of TRAIN_QUEUE slots, tokenizers (one per core, at most
 * TRAIN_TOKENIZERS) tokenize the slots in parallel, and the calling thread
 * (the trainer) takes them in input order, combines their counts (or
 * retrains by signature) and writes. Tokenizing is about half of the work
 * before the final write and combining the rest: on two cores neither
 * waits for the other (contrib/bench/README.md, Storage).
 */
#define TRAIN_QUEUE 32
#define TRAIN_TOKENIZERS 4
/* A slot's copy buffer larger than this is given back once used. */
#define TRAIN_KEEP_BYTES ((size_t)4 << 20)
/*
 * The copies in the ring, together, beyond one message: the reader waits
 * for the trainer before it copies more. A slot holds a message's header
 * whole (the parser reads all of it), so 32 messages whose header is large
 * (files without an empty line: 30 MB each took 1 GB) were copied at once.
 */
#define TRAIN_RING_BYTES ((size_t)64 << 20)

/* One message on its way from the reader to the trainer. */
typedef struct tjob {
	char *data;             /* a copy of what the parser reads of it (owned) */
	size_t len;             /* their length */
	size_t cap;             /* data's allocated size */
	char *label;            /* where it came from (owned) */
	int cls;                /* 1 spam, 0 ham */
	tokset *toks;           /* its tokens (this slot's own set) */
	int parse_rc;           /* tokenize's result: 0 or a negative errno */
	char (*sigs)[33];       /* the signature ids in its bytes, in the order
	                         * to try (learn_signatures; LEARN_SIGS_MAX, owned) */
	size_t nsigs;           /* how many */
	int ready;              /* tokenized: the trainer may take it */
} tjob;

/* A tokenizer thread's own parser. */
typedef struct tworker {
	pthread_t th;           /* the thread */
	int started;            /* th runs (to be joined) */
	struct tqueue *q;       /* the ring */
	magic_t magic;          /* libmagic handle (not shared) */
	profile_parse pp;       /* parser options using it */
	msg *parser;            /* streaming parser */
	sigscan *scan;          /* signature marks in encoded text parts,
	                         * or NULL (--no-signature) */
} tworker;

/*
 * The ring. Counters only grow: slots [head, filled) hold messages, of
 * which [head, claimed) are (being) tokenized; a slot is i % TRAIN_QUEUE.
 */
typedef struct tqueue {
	pthread_mutex_t mu;     /* guards the counters, ready flags, done, stop */
	pthread_cond_t space;   /* the reader waits here for a free slot */
	pthread_cond_t work;    /* tokenizers wait here for a copied message */
	pthread_cond_t ready;   /* the trainer waits here for the next one */
	tjob slot[TRAIN_QUEUE]; /* the ring */
	size_t head;            /* the next message for the trainer */
	size_t claimed;         /* the next message for a tokenizer */
	size_t filled;          /* the next message the reader copies */
	size_t bytes;           /* the copies of slots [head, filled) */
	int done;               /* the reader has read everything */
	int stop;               /* the trainer gave up: read no further */
	int use_sig;            /* look for signatures */
	size_t scan_bytes;      /* MaxScanBytes: body bytes a slot needs */
	/* the reader's, untouched by the others until it is joined: */
	char **paths;           /* inputs, "-" for standard input */
	int *cls;               /* the class of each input */
	int npaths;             /* number of inputs */
	int cur_cls;            /* class of the input being read */
	fileset *seen;          /* the files read, with their class */
	int rc;                 /* CLI_INPUT when an input could not be read */
} tqueue;

static const char train_help[] =
    "usage: spamsift train --user U [--source corpus|error|inoculation]\n"
    "                      [--no-signature] (--spam|--ham) [FILE|DIR|-]...\n"
    "                      [(--spam|--ham) [FILE|DIR|-]...]\n"
    "\n"
    "Learn messages as spam or ham. Inputs: message files, Maildir folders\n"
    "(cur/ and new/), plain directories of message files (and of folders of\n"
    "them), mbox files, and standard input (-, the default). Each input\n"
    "takes the class of the --spam or --ham before it, so one run can learn\n"
    "both: --spam DIR --ham DIR.\n"
    "A message carrying a spamsift signature is retrained by it (source\n"
    "error) unless --no-signature is given.\n";

/* Milliseconds since the deferred writes were last flushed. */
static long flush_ms(const run *r)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)((now.tv_sec - r->flushed.tv_sec) * 1000 +
	    (now.tv_nsec - r->flushed.tv_nsec) / 1000000);
}

/* Write the deferred messages; on success they all count as stored. */
static int flush_train(run *r)
{
	int rc = db_flush(r->c->store);

	if (rc == 0) {
		r->nstored = r->n;
		clock_gettime(CLOCK_MONOTONIC, &r->flushed);
	}
	return rc;
}

/* Reader: copy one message into the next free slot of the ring. */
static int read_one(void *arg, const char *label, const char *data, size_t len)
{
	tqueue *q = arg;
	tjob *j;

	pthread_mutex_lock(&q->mu);
	while (q->filled - q->head == TRAIN_QUEUE && !q->stop)
		pthread_cond_wait(&q->space, &q->mu);
	if (q->stop) {
		pthread_mutex_unlock(&q->mu);
		return 1;
	}
	/* The others touch only filled slots: this one is ours. */
	j = &q->slot[q->filled % TRAIN_QUEUE];
	pthread_mutex_unlock(&q->mu);

	/*
	 * Signatures are looked for in the whole message, but only what the
	 * parser reads is copied: the header and MaxScanBytes of the body,
	 * and one byte more so that it still sees the body was truncated.
	 * TRAIN_QUEUE copies of whole messages of hundreds of megabytes
	 * each did not fit in memory.
	 */
	{
		size_t body;

		/* The header's end is looked for once: with the signatures
		 * when they are wanted (it was searched for twice). */
		if (q->use_sig) {
			j->nsigs = learn_signatures(data, len, j->sigs,
			    LEARN_SIGS_MAX, &body);
		} else {
			j->nsigs = 0;
			body = header_end(data, len);
		}
		if (len - body > q->scan_bytes)
			len = body + q->scan_bytes + 1;
	}
	/* Within TRAIN_RING_BYTES, or the only one in the ring. */
	pthread_mutex_lock(&q->mu);
	while (q->filled > q->head && q->bytes + len > TRAIN_RING_BYTES &&
	    !q->stop)
		pthread_cond_wait(&q->space, &q->mu);
	if (q->stop) {
		pthread_mutex_unlock(&q->mu);
		return 1;
	}
	pthread_mutex_unlock(&q->mu);

	if (j->cap > TRAIN_KEEP_BYTES && len <= TRAIN_KEEP_BYTES) {
		free(j->data);
		j->data = NULL;
		j->cap = 0;
	}
	if (len > j->cap || j->data == NULL) {
		char *nd = realloc(j->data, len ? len : 1);

		if (nd != NULL) {
			j->data = nd;
			j->cap = len ? len : 1;
		}
	}
	free(j->label);
	j->label = strdup(label);
	j->cls = q->cur_cls;
	if (j->label == NULL || j->cap < len) {
		j->parse_rc = -ENOMEM;
		j->len = 0;
	} else if (len == 0) {
		/* an empty file, or nothing on a pipe: not a message to learn */
		j->parse_rc = -ENODATA;
		j->len = 0;
	} else {
		j->parse_rc = 0;
		memcpy(j->data, data, len);
		j->len = len;
	}

	pthread_mutex_lock(&q->mu);
	q->bytes += j->len;
	q->filled++;
	/* One wake-up per event, and only for who waits for it: with one
	 * condition for all, every event woke every thread (42,000 futex
	 * calls for the corpus half). */
	pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

/*
 * Reader: each file is learned once in a run, by whatever names it is
 * reached (a symbolic link beside it, a hard link, a folder and a file in
 * it both given): it was learned as many times, its tokens counted twice.
 * Another name of a file given again as the same class is passed over
 * without a word (Dovecot copies messages between folders as hard links);
 * one given as the other class is named, as it is not learned as asked.
 */
static int read_once(void *arg, const char *path, const struct stat *st)
{
	tqueue *q = arg;
	int first = q->cur_cls, rc;

	rc = fileset_add(q->seen, st->st_dev, st->st_ino, q->cur_cls, &first);
	if (rc < 0)
		return rc;
	if (rc == 0 && first != q->cur_cls)
		fprintf(stderr, "spamsift: warning: %s: the same file as one "
		    "learned as %s before: not learned as %s\n", path,
		    first ? "spam" : "ham", q->cur_cls ? "spam" : "ham");
	return rc == 0;
}

static void *reader_main(void *arg)
{
	tqueue *q = arg;
	char err[1024];

	for (int i = 0; i < q->npaths; i++) {
		int stop;

		pthread_mutex_lock(&q->mu);
		stop = q->stop;
		pthread_mutex_unlock(&q->mu);
		if (stop)
			break;
		q->cur_cls = q->cls[i];
		if (input_each_admit(q->paths[i], read_once, read_one, q, err,
		    sizeof(err)) < 0) {
			fprintf(stderr, "spamsift: %s\n", err);
			q->rc = CLI_INPUT;
		}
	}
	pthread_mutex_lock(&q->mu);
	q->done = 1;
	pthread_cond_broadcast(&q->work);
	pthread_cond_signal(&q->ready);
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* Tokenizer: tokenize copied messages, any that is next, until the end. */
static void *tokenizer_main(void *arg)
{
	tworker *w = arg;
	tqueue *q = w->q;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		tjob *j;

		while (q->claimed == q->filled && !q->done && !q->stop)
			pthread_cond_wait(&q->work, &q->mu);
		if (q->stop || q->claimed == q->filled)
			break;
		j = &q->slot[q->claimed++ % TRAIN_QUEUE];
		pthread_mutex_unlock(&q->mu);

		if (w->scan != NULL)
			sigscan_reset(w->scan);
		if (j->parse_rc == 0)
			j->parse_rc = parse_into(w->parser, j->toks, j->data,
			    j->len);
		/*
		 * After the message's own signatures: marks that a forwarded
		 * copy's encoding hid from learn_signatures, found as the
		 * parser decodes its text (not a second pass over it).
		 */
		if (w->scan != NULL)
			j->nsigs = sigscan_take(w->scan, j->sigs, j->nsigs,
			    LEARN_SIGS_MAX);

		pthread_mutex_lock(&q->mu);
		j->ready = 1;
		if (j == &q->slot[q->head % TRAIN_QUEUE])
			pthread_cond_signal(&q->ready);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* filter_retrain's answer for a signature it cannot use: unknown, expired
 * or not an id (the message's bytes are learned instead). */
static int sig_unusable(int rc)
{
	return rc == -ENOENT || rc == -ESTALE || rc == -EINVAL;
}

/* What train did, by class (0 ham, 1 spam), for its summary. */
typedef struct tcount {
	size_t learned[2];      /* messages learned, retrained ones among them */
	size_t retrained[2];    /* retrained by signature (moved to the class) */
	size_t unchanged[2];    /* by a signature already of the class:
	                         * nothing to learn, not among learned */
	size_t notrain[2];      /* not learned: the user's mode is notrain */
	size_t expired[2];      /* signature expired: learned from the text
	                         * as a correction (among learned) */
} tcount;

/*
 * The class an expired signature of the run's user recorded: *cls is 2 +
 * DB_CLASS_SPAM or 2 + DB_CLASS_INNOCENT (0 when it is gone), *learned
 * what it records as learned, and its envelope sender into sender (cap
 * bytes; "" when none). Returns 0 or a negative errno.
 */
static int stale_class(run *r, const char *id, int *cls, int *learned,
    char *sender, size_t cap)
{
	db_sig *sig = NULL;
	int rc = db_sig_get(r->c->store, r->uid, id, &sig);

	*cls = 0;
	*learned = 0;
	sender[0] = '\0';
	if (rc == 0 && sig != NULL) {
		*cls = 2 + (sig->cls == DB_CLASS_SPAM);
		*learned = sig->learned;
		snprintf(sender, cap, "%s", sig->sender);
	}
	db_sig_free(sig);
	return rc;
}

/*
 * The forms a correction's message may have had when it was classified:
 * as given (j->toks), then as a copy as delivered less what delivery added
 * (delivered_undo: the fields delivery puts on top, the Subject's tag, the
 * body's signature lines), with none to DELIVERED_MAX_RECEIVED of its first
 * Received fields, and each also without a Subject that is the tag alone
 * (the milter adds one to a message without a Subject). Forms that cannot
 * be made, or that are the same as the one before, are left out. How many
 * are in forms (at most 1 + DELIVERED_FORMS).
 */
static size_t error_forms(run *r, const tjob *j, const tokset **forms)
{
	size_t n = 0, nf = 0;

	forms[n++] = j->toks;
	if (r->parser == NULL &&
	    parser_open(r->c, NULL, &r->magic, &r->pp, &r->parser) < 0)
		return n;
	for (unsigned k = 0; k <= DELIVERED_MAX_RECEIVED; k++) {
		char *prev = NULL;
		size_t prevlen = 0;

		for (int added = 0; added < 2; added++, nf++) {
			char *d;
			size_t dl;

			if (r->forms[nf] == NULL && tokset_new((size_t)conf_int(
			    r->c->cf, "MaxTokens"), 0, &r->forms[nf]) < 0)
				continue;
			if (delivered_undo(j->data, j->len, r->prof.spam_subject,
			    k, added ? DELIVERED_ADDED_SUBJECT : 0, &d, &dl) <= 0)
				continue;
			if (prev != NULL && dl == prevlen &&
			    memcmp(d, prev, dl) == 0) {
				free(d);
				continue;
			}
			if (parse_into(r->parser, r->forms[nf], d, dl) == 0)
				forms[n++] = r->forms[nf];
			free(prev);
			prev = d;
			prevlen = dl;
		}
		free(prev);
	}
	return n;
}

/*
 * Trainer: learn one tokenized message (or retrain it by its signature).
 * Returns 0, or a negative errno after a store error (r->rc = CLI_STORE).
 */
static int train_job(run *r, const tjob *j, tcount *cnt)
{
	time_t now = time(NULL);
	int rc, source = r->source, stale = 0, stale_learned = 0;
	const char *stale_id = NULL;
	char sender[USERMAP_MAX] = "";

	if (j->nsigs > 0) {
		/*
		 * Retraining is an ordinary transaction: the store writes what
		 * is deferred first, when the signature is found (db_sig_get).
		 * One not found (gone, another user's) writes nothing: a flush
		 * here made a commit of every message of old signed mail.
		 */
		/*
		 * A message to several users carries a signature for each: the
		 * first of this user's is the one to retrain by (another
		 * user's is unknown here), the message's own before a quoted
		 * or forwarded one (learn_signatures).
		 */
		for (size_t k = 0; k < j->nsigs; k++) {
			int changed = 0;

			rc = filter_retrain(r->c->store, r->user, j->sigs[k],
			    j->cls, NULL, &r->prof.fp, now, &changed);
			if (rc == 0 && !changed) {
				cnt->unchanged[j->cls]++;
				return 0;
			}
			/* NOTRAIN counted the error and learned nothing. */
			if (rc == 0 && r->prof.fp.training_mode ==
			    FILTER_MODE_NOTRAIN) {
				cnt->notrain[j->cls]++;
				r->rc = CLI_INPUT;
				return 0;
			}
			if (rc == 0) {
				cnt->retrained[j->cls]++;
				cnt->learned[j->cls]++;
				r->n++;
				if (db_pending(r->c->store) == 0)
					r->nstored = r->n;
				return 0;
			}
			if (rc == -ESTALE && !stale) {
				if ((rc = stale_class(r, j->sigs[k], &stale,
				    &stale_learned, sender, sizeof(sender))) < 0)
					goto store;
				stale_id = j->sigs[k];
				if (stale == 2 + j->cls) {
					cnt->unchanged[j->cls]++;
					return 0;
				}
				continue;
			}
			if (!sig_unusable(rc))
				goto store;
		}
		/*
		 * Unknown, expired or malformed signatures: learn the bytes.
		 * One of this user's that expired was classified the other
		 * way: a correction (source error, which unlearns what
		 * classification learned, as the Dovecot script's --source
		 * error does), unless --source says otherwise. It was learned
		 * as corpus, and the model kept both classes of it.
		 */
		if (stale && !r->source_set)
			source = FILTER_SRC_ERROR;
	}
	if (j->parse_rc < 0) {
		if (j->parse_rc == -ENODATA)
			fprintf(stderr, "spamsift: %s: empty, not learned\n",
			    j->label ? j->label : "?");
		else
			fprintf(stderr, "spamsift: %s: cannot parse: %s\n",
			    j->label ? j->label : "?", strerror(-j->parse_rc));
		r->rc = CLI_INPUT;
		return 0;
	}
	/* NOTRAIN leaves the model as it is (filter_train learns nothing):
	 * said, not counted as learned. */
	if (r->prof.fp.training_mode == FILTER_MODE_NOTRAIN) {
		cnt->notrain[j->cls]++;
		r->rc = CLI_INPUT;
		return 0;
	}
	/* Deferred: this writes to memory (db_defer flushes at its bound). */
	if (source == FILTER_SRC_ERROR) {
		const tokset *forms[1 + DELIVERED_FORMS];
		size_t nforms = error_forms(r, j, forms);

		/*
		 * The sender's history moves as with a signature: the expired
		 * one's sender, else the copy's Return-Path (not its From:,
		 * which a spam forges to take a whitelisted sender's entry).
		 */
		if (sender[0] == '\0' &&
		    !delivered_sender(j->data, j->len, sender, sizeof(sender)))
			sender[0] = '\0';
		rc = filter_train_forms(r->c->store, r->user, forms, nforms,
		    j->cls, source, sender[0] ? sender : NULL, &r->prof.fp, now);
		/*
		 * An expired signature corrected from the text takes the
		 * class: the same report again is then unchanged (it learned
		 * and counted the message again). It cannot be retrained by
		 * any more, so what it records as learned is left as it is.
		 */
		if (rc == 0 && stale_id != NULL && stale == 3 - j->cls)
			rc = db_sig_update(r->c->store, r->uid, stale_id,
			    j->cls ? DB_CLASS_SPAM : DB_CLASS_INNOCENT,
			    stale_learned);
	} else {
		rc = filter_train(r->c->store, r->user, j->toks, j->cls,
		    source, &r->prof.fp, now);
	}
	if (rc < 0)
		goto store;
	cnt->learned[j->cls]++;
	/* (--source error too, as the Dovecot script gives it: it was
	 * counted only when the expiry made the source error) */
	if (stale && source == FILTER_SRC_ERROR)
		cnt->expired[j->cls]++;
	r->n++;
	if (db_pending(r->c->store) == 0)
		r->nstored = r->n;
	else if (flush_ms(r) >= TRAIN_FLUSH_MS && (rc = flush_train(r)) < 0)
		goto store;
	return 0;
store:
	fprintf(stderr, "spamsift: %s: %s\n", j->label ? j->label : "?",
	    db_errmsg(r->c->store));
	r->rc = CLI_STORE;
	return rc;
}

/* How many tokenizers: one per core online, 1..TRAIN_TOKENIZERS. */
static int tokenizers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > TRAIN_TOKENIZERS ? TRAIN_TOKENIZERS : (int)n;
}

/*
 * Read and tokenize the inputs in other threads and learn them here, in
 * input order, until the end or a store error. Returns CLI_OK, or CLI_STORE
 * when the threads could not be set up (nothing learned then).
 */
static int train_inputs(run *r, tqueue *q, tcount *cnt)
{
	tworker w[TRAIN_TOKENIZERS];
	int nw = tokenizers(), rc = CLI_OK, err = 0;
	pthread_t reader;
	int reader_started = 0;

	memset(w, 0, sizeof(w));
	q->scan_bytes = (size_t)conf_int(r->c->cf, "MaxScanBytes");
	for (int i = 0; i < TRAIN_QUEUE && rc == CLI_OK; i++)
		if (tokset_new((size_t)conf_int(r->c->cf, "MaxTokens"), 0,
		    &q->slot[i].toks) < 0 || (q->slot[i].sigs =
		    calloc(LEARN_SIGS_MAX, sizeof(*q->slot[i].sigs))) == NULL)
			rc = CLI_STORE;
	for (int i = 0; i < nw && rc == CLI_OK; i++) {
		w[i].q = q;
		if ((q->use_sig && sigscan_new(LEARN_SIGS_MAX, &w[i].scan) < 0) ||
		    parser_open(r->c, w[i].scan, &w[i].magic, &w[i].pp,
		    &w[i].parser) < 0)
			rc = CLI_STORE;
	}
	if (rc != CLI_OK)
		fprintf(stderr, "spamsift: out of memory\n");
	for (int i = 0; i < nw && rc == CLI_OK; i++) {
		if ((err = pthread_create(&w[i].th, NULL, tokenizer_main, &w[i])) != 0)
			rc = CLI_STORE;
		else
			w[i].started = 1;
	}
	if (rc == CLI_OK) {
		if ((err = pthread_create(&reader, NULL, reader_main, q)) != 0)
			rc = CLI_STORE;
		else
			reader_started = 1;
	}
	if (err != 0)
		fprintf(stderr, "spamsift: cannot start a thread: %s\n",
		    strerror(err));
	pthread_mutex_lock(&q->mu);
	if (rc != CLI_OK) {
		q->stop = 1;
		pthread_cond_broadcast(&q->space);
		pthread_cond_broadcast(&q->work);
	}
	while (rc == CLI_OK) {
		tjob *j;
		int trc;

		while ((q->head == q->filled && !q->done) ||
		    (q->head < q->filled && !q->slot[q->head % TRAIN_QUEUE].ready))
			pthread_cond_wait(&q->ready, &q->mu);
		if (q->head == q->filled)
			break;
		j = &q->slot[q->head % TRAIN_QUEUE];
		pthread_mutex_unlock(&q->mu);
		trc = train_job(r, j, cnt);
		/* (the slot is the trainer's until head moves past it) */
		if (j->cap > TRAIN_KEEP_BYTES) {
			free(j->data);
			j->data = NULL;
			j->cap = 0;
		}
		pthread_mutex_lock(&q->mu);
		j->ready = 0;
		q->bytes -= j->len;
		q->head++;
		if (trc < 0) {
			q->stop = 1;
			pthread_cond_broadcast(&q->work);
		}
		pthread_cond_signal(&q->space);
		if (trc < 0)
			break;
	}
	pthread_mutex_unlock(&q->mu);
	if (reader_started)
		pthread_join(reader, NULL);
	for (int i = 0; i < nw; i++) {
		if (w[i].started)
			pthread_join(w[i].th, NULL);
		parser_close(w[i].magic, w[i].parser);
		sigscan_free(w[i].scan);
	}
	if (q->rc != 0 && r->rc == CLI_OK)
		r->rc = q->rc;
	return rc;
}

static void tqueue_free(tqueue *q)
{
	for (int i = 0; i < TRAIN_QUEUE; i++) {
		tokset_free(q->slot[i].toks);
		free(q->slot[i].sigs);
		free(q->slot[i].label);
		free(q->slot[i].data);
	}
	free(q->paths);
	free(q->cls);
	fileset_free(q->seen);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->space);
	pthread_cond_destroy(&q->work);
	pthread_cond_destroy(&q->ready);
}

static int parse_source(const char *s, int *src)
{
	if (strcmp(s, "corpus") == 0)
		*src = FILTER_SRC_CORPUS;
	else if (strcmp(s, "error") == 0)
		*src = FILTER_SRC_ERROR;
	else if (strcmp(s, "inoculation") == 0)
		*src = FILTER_SRC_INOCULATION;
	else
		return -1;
	return 0;
}

/*
 * The inputs of train in order, each with the class of the --spam or --ham
 * before it. With a single class, inputs before it take it too and no input
 * means standard input (as always); with both, every input must follow a
 * class and every class must have inputs. Returns 0 or prints why not.
 */
static int train_args(int argc, char **argv, tqueue *q, const char **user,
    int *source, int *classes)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "spam", no_argument, NULL, 's' },
		{ "ham", no_argument, NULL, 'n' },
		{ "innocent", no_argument, NULL, 'n' },
		{ "source", required_argument, NULL, 'S' },
		{ "no-signature", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, cls = -1, ninputs_since = 0, gap = 0;

	*classes = 0;
	if ((q->paths = calloc((size_t)argc + 1, sizeof(*q->paths))) == NULL ||
	    (q->cls = calloc((size_t)argc + 1, sizeof(*q->cls))) == NULL) {
		fprintf(stderr, "spamsift: out of memory\n");
		return CLI_STORE;
	}
	optind = 0;
	/* "-": operands come back in order, as option 1. */
	while ((ch = getopt_long(argc, argv, "-u:snS:Nh", longopts, NULL)) != -1) {
		switch (ch) {
		case 1:
			q->paths[q->npaths] = optarg;
			q->cls[q->npaths++] = cls;
			ninputs_since++;
			break;
		case 'u': *user = optarg; break;
		case 's':
		case 'n':
			if (cls >= 0 && ninputs_since == 0)
				gap = 1;
			cls = ch == 's';
			*classes |= 1 << cls;
			ninputs_since = 0;
			break;
		case 'N': q->use_sig = 0; break;
		case 'S':
			if (parse_source(optarg, source) < 0) {
				fprintf(stderr, "spamsift: --source: expected corpus, error or inoculation\n");
				return CLI_USAGE;
			}
			break;
		case 'h': fputs(train_help, stdout); return -1;
		default: fputs(train_help, stderr); return CLI_USAGE;
		}
	}
	for (; optind < argc; optind++) {       /* after "--" */
		q->paths[q->npaths] = argv[optind];
		q->cls[q->npaths++] = cls;
		ninputs_since++;
	}
	if (*classes == 0) {
		fprintf(stderr, "spamsift: train: --spam or --ham is required\n");
		return CLI_USAGE;
	}
	if (*classes == 3) {
		if (gap || ninputs_since == 0 || q->cls[0] < 0) {
			fprintf(stderr, "spamsift: train: --spam and --ham both "
			    "given: each needs its inputs, after it\n");
			return CLI_USAGE;
		}
		return CLI_OK;
	}
	for (int i = 0; i < q->npaths; i++)
		q->cls[i] = cls;
	if (q->npaths == 0) {
		q->paths[0] = "-";
		q->cls[q->npaths++] = cls;
	}
	return CLI_OK;
}

int cmd_train(cli *c, int argc, char **argv)
{
	const char *user = NULL;
	char canon[USERMAP_MAX];
	int source = -1, classes, rc;     /* -1: corpus, not given */
	tcount cnt;
	tqueue q;
	run r;

	memset(&q, 0, sizeof(q));
	pthread_mutex_init(&q.mu, NULL);
	pthread_cond_init(&q.space, NULL);
	pthread_cond_init(&q.work, NULL);
	pthread_cond_init(&q.ready, NULL);
	q.use_sig = 1;
	rc = train_args(argc, argv, &q, &user, &source, &classes);
	if (rc != CLI_OK) {
		tqueue_free(&q);
		return rc < 0 ? CLI_OK : rc;
	}
	if (fileset_new(&q.seen) < 0) {
		fprintf(stderr, "spamsift: out of memory\n");
		tqueue_free(&q);
		return CLI_STORE;
	}
	/* No parser here: the tokenizer threads have their own. */
	memset(&r, 0, sizeof(r));
	r.c = c;
	rc = cli_user(c, user, 1, &r.uid, canon, sizeof(canon));
	if (rc != CLI_OK) {
		tqueue_free(&q);
		return rc;
	}
	r.user = canon;
	r.source = source < 0 ? FILTER_SRC_CORPUS : source;
	r.source_set = source >= 0;
	if (profile_user(c->cf, c->store, r.uid, &r.prof) < 0) {
		run_close(&r);
		tqueue_free(&q);
		return cli_store_error(c, "preferences", -EIO);
	}
	if ((rc = db_defer(c->store, TRAIN_DEFER_BYTES)) < 0) {
		run_close(&r);
		tqueue_free(&q);
		return cli_store_error(c, "train", rc);
	}
	clock_gettime(CLOCK_MONOTONIC, &r.flushed);
	memset(&cnt, 0, sizeof(cnt));
	if ((rc = train_inputs(&r, &q, &cnt)) != CLI_OK)
		r.rc = rc;
	/* Also after a store error: what was learned before it is kept. */
	if (flush_train(&r) < 0) {
		fprintf(stderr, "spamsift: write: %s\n", db_errmsg(c->store));
		r.rc = CLI_STORE;
	}
	db_defer(c->store, 0);
	if (r.nstored < r.n || r.rc == CLI_STORE)
		fprintf(stderr, "spamsift: %s: %zu of %zu messages were learned "
		    "(written to the store) before the error\n", canon,
		    r.nstored, r.n);
	else    /* also when an input could not be read: the rest was learned */
		for (int k = 1; k >= 0; k--) {
			if (!(classes & (1 << k)))
				continue;
			/* (a name's line feed or TAB escaped: it forged a
			 * summary line a script reads) */
			cli_text_str(stdout, canon);
			printf(": learned %zu messages as %s (%zu retrained "
			    "by signature)", cnt.learned[k],
			    k ? "spam" : "ham", cnt.retrained[k]);
			if (cnt.unchanged[k] > 0)
				printf(", %zu unchanged (signature already %s)",
				    cnt.unchanged[k], k ? "spam" : "ham");
			if (cnt.expired[k] > 0)
				printf(", %zu corrected from their text "
				    "(signature expired)", cnt.expired[k]);
			putchar('\n');
			if (cnt.notrain[k] > 0)
				fprintf(stderr, "spamsift: %s: %zu messages not "
				    "learned as %s: the user's trainingMode is "
				    "notrain\n", canon, cnt.notrain[k],
				    k ? "spam" : "ham");
		}
	rc = r.rc;
	run_close(&r);
	tqueue_free(&q);
	return rc;
}

/* ---- retrain ---- */

static const char retrain_help[] =
    "usage: spamsift retrain --user U --signature ID (--spam|--ham)\n"
    "\n"
    "Correct a verdict: reverse exactly what was learned for the message with\n"
    "this signature, learn it as the given class, and count the error.\n";

int cmd_retrain(cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "signature", required_argument, NULL, 'g' },
		{ "spam", no_argument, NULL, 's' },
		{ "ham", no_argument, NULL, 'n' },
		{ "innocent", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *user = NULL, *sig = NULL;
	char canon[USERMAP_MAX];
	int ch, cls = -1, both = 0, rc, changed = 0;
	int64_t uid;
	profile prof;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "u:g:snh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u': user = optarg; break;
		case 'g':       /* ids are stored in lower case */
			for (char *p = optarg; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			sig = optarg;
			break;
		case 's':
		case 'n':
			/* One verdict: with both, the last one given won. */
			if (cls >= 0 && cls != (ch == 's'))
				both = 1;
			cls = ch == 's';
			break;
		case 'h': fputs(retrain_help, stdout); return CLI_OK;
		default: fputs(retrain_help, stderr); return CLI_USAGE;
		}
	}
	if (cls < 0 || both || sig == NULL || optind != argc)
		return cli_usage(retrain_help, "retrain: --signature ID and one "
		    "of --spam or --ham are required, and nothing else");
	rc = cli_user(c, user, 0, &uid, canon, sizeof(canon));
	if (rc != CLI_OK)
		return rc;
	if (uid == 0) {
		fprintf(stderr, "spamsift: %s: no such user in the store\n", user);
		return CLI_INPUT;
	}
	if ((rc = profile_user(c->cf, c->store, uid, &prof)) < 0)
		return cli_store_error(c, "preferences", rc);
	rc = filter_retrain(c->store, canon, sig, cls, NULL, &prof.fp, time(NULL),
	    &changed);
	if (rc == -ESTALE) {
		/* Still stored, but past its life: say so, not "unknown". */
		long days = (long)(prof.fp.sig_life / 86400);

		fprintf(stderr, "spamsift: signature %s: expired for %s (older "
		    "than SignatureLife, %ld day%s); nothing changed\n", sig,
		    canon, days, days == 1 ? "" : "s");
		return CLI_INPUT;
	}
	if (rc == -ENOENT) {
		fprintf(stderr, "spamsift: signature %s: unknown or expired for %s\n",
		    sig, canon);
		return CLI_INPUT;
	}
	if (rc == -EINVAL) {
		fprintf(stderr, "spamsift: signature %s: not a signature id\n", sig);
		return CLI_INPUT;
	}
	if (rc < 0)
		return cli_store_error(c, "retrain", rc);
	/* NOTRAIN counted the error and learned nothing: said, as train does. */
	if (changed && prof.fp.training_mode == FILTER_MODE_NOTRAIN) {
		cli_text_str(stdout, canon);
		printf(": signature %s counted as an error\n", sig);
		fprintf(stderr, "spamsift: %s: not learned as %s: the user's "
		    "trainingMode is notrain\n", canon, cls ? "spam" : "ham");
		return CLI_INPUT;
	}
	cli_text_str(stdout, canon);
	printf(": signature %s %s as %s\n", sig,
	    changed ? "retrained" : "already learned", cls ? "spam" : "ham");
	return CLI_OK;
}

int learn_release(cli *c, const char *user, int64_t uid, const db_quar *q)
{
	char sender[USERMAP_MAX];
	time_t now = time(NULL);
	int rc = -ENOENT, changed = 0;
	run r;

	if ((rc = run_open(&r, c, 0)) != CLI_OK)
		return rc;
	r.uid = uid;
	r.user = user;
	if ((rc = profile_user(c->cf, c->store, uid, &r.prof)) < 0) {
		run_close(&r);
		return cli_store_error(c, "preferences", rc);
	}
	rc = -ENOENT;
	/* The sender as the lists and the history know it (stored as given,
	 * for the release's envelope). */
	if (q->sender == NULL ||
	    usermap_address(q->sender, sender, sizeof(sender)) < 0)
		sender[0] = '\0';
	if (q->signature != NULL && *q->signature != '\0')
		rc = filter_retrain(c->store, user, q->signature, 0, sender,
		    &r.prof.fp, now, &changed);
	if (sig_unusable(rc)) {
		/* No usable signature: learn the stored bytes as an error. */
		rc = tokenize(&r, q->data, q->len);
		if (rc == 0) {
			const tokset *form = r.toks;

			rc = filter_train_forms(c->store, user, &form, 1, 0,
			    FILTER_SRC_ERROR, sender[0] ? sender : NULL,
			    &r.prof.fp, now);
		}
	}
	if (rc == 0 && r.prof.fp.training_mode == FILTER_MODE_NOTRAIN)
		fprintf(stderr, "spamsift: %s: the released message was not "
		    "learned: the user's trainingMode is notrain\n", user);
	run_close(&r);
	return rc < 0 ? cli_store_error(c, "learn released message", rc) : CLI_OK;
}

/* ---- classify ---- */

static const char classify_help[] =
    "usage: spamsift classify --user U [--explain] [--train]\n"
    "                         [--format text|tsv|json] [FILE|DIR|-]...\n"
    "\n"
    "One line per message. tsv: path<TAB>class<TAB>probability<TAB>confidence.\n"
    "Classes: spam, innocent, whitelisted, blocklisted. Nothing is learned\n"
    "unless --train is given (then the user's training mode applies, and a\n"
    "file reached by several names is classified once).\n"
    "--explain adds the most telling tokens and their probabilities.\n";

/*
 * Classify one message. The sender lists and automatic whitelisting judge
 * the envelope sender, as the milter does (MAIL FROM): in a delivered
 * message its first Return-Path field (delivered_sender), else the From:
 * address. The From: address alone let a spam whose From: named a
 * whitelisted sender show as whitelisted, which the milter had called spam.
 */
static int classify_one(void *arg, const char *label, const char *data,
    size_t len)
{
	run *r = arg;
	filter_result res;
	const bayes_result *v = &res.verdict;
	char sender[USERMAP_MAX];
	int rc;

	if (empty_input(r, label, len, "classified"))
		return 0;
	rc = tokenize(r, data, len);
	if (rc < 0) {
		fprintf(stderr, "spamsift: %s: cannot parse: %s\n", label, strerror(-rc));
		r->rc = CLI_INPUT;
		return 0;
	}
	rc = filter_classify(r->c->store, r->user, r->toks,
	    delivered_sender(data, len, sender, sizeof(sender)) ? sender :
	    msg_from_addr(r->parser), &r->prof.fp, time(NULL), &res);
	if (rc < 0) {
		fprintf(stderr, "spamsift: %s: %s\n", label, db_errmsg(r->c->store));
		r->rc = CLI_STORE;
		return rc;
	}
	r->n++;
	if (strcmp(r->format, "tsv") == 0) {
		cli_text_str(stdout, label);
		printf("\t%s\t%.6f\t%.6f\n", class_name(v->cls),
		    v->probability, v->confidence);
	} else if (strcmp(r->format, "json") == 0) {
		printf("{\"path\":");
		cli_json_str(stdout, label);
		printf(",\"class\":\"%s\",\"probability\":%.6f,\"confidence\":%.6f",
		    class_name(v->cls), v->probability, v->confidence);
		if (res.sig_id[0])
			printf(",\"signature\":\"%s\"", res.sig_id);
		if (r->explain) {
			printf(",\"factors\":[");
			for (size_t i = 0; i < v->ntop; i++) {
				printf("%s{\"token\":", i ? "," : "");
				if (v->top[i].text)
					cli_json_str(stdout, v->top[i].text);
				else
					printf("\"#%016" PRIx64 "\"", v->top[i].hash);
				printf(",\"probability\":%.6f,\"spam\":%.0f,\"innocent\":%.0f}",
				    v->top[i].prob, v->top[i].spam_hits, v->top[i].innocent_hits);
			}
			printf("]");
		}
		printf("}\n");
	} else {
		cli_text_str(stdout, label);
		printf(": %s probability=%.4f confidence=%.2f tokens=%zu\n",
		    class_name(v->cls), v->probability, v->confidence,
		    tokset_count(r->toks));
	}
	if (r->explain && strcmp(r->format, "json") != 0)
		for (size_t i = 0; i < v->ntop; i++) {
			if (v->top[i].text) {
				fputs("  ", stdout);
				for (size_t k = cli_text_str(stdout,
				    v->top[i].text); k < 40; k++)
					putchar(' ');
			} else
				printf("  #%016" PRIx64 "%23s", v->top[i].hash, "");
			printf(" p=%.4f spam=%.0f innocent=%.0f\n", v->top[i].prob,
			    v->top[i].spam_hits, v->top[i].innocent_hits);
		}
	return ferror(stdout) ? 1 : 0;  /* nobody reads the rest */
}

int cmd_classify(cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "explain", no_argument, NULL, 'e' },
		{ "train", no_argument, NULL, 't' },
		{ "format", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *user = NULL, *format = "text";
	char canon[USERMAP_MAX];
	int ch, explain = 0, train = 0, rc;
	int64_t uid, guid = 0;
	db_cache *cache;
	run r;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "u:etF:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u': user = optarg; break;
		case 'e': explain = 1; break;
		case 't': train = 1; break;
		case 'F': format = optarg; break;
		case 'h': fputs(classify_help, stdout); return CLI_OK;
		default: fputs(classify_help, stderr); return CLI_USAGE;
		}
	}
	if (strcmp(format, "text") && strcmp(format, "tsv") && strcmp(format, "json")) {
		fprintf(stderr, "spamsift: --format: expected text, tsv or json\n");
		return CLI_USAGE;
	}
	rc = cli_user(c, user, train, &uid, canon, sizeof(canon));
	if (rc != CLI_OK)
		return rc;
	if ((rc = run_open(&r, c, explain)) != CLI_OK)
		return rc;
	r.uid = uid;
	r.user = canon;
	r.explain = explain;
	r.format = format;
	if (profile_user(c->cf, c->store, uid, &r.prof) < 0) {
		run_close(&r);
		return cli_store_error(c, "preferences", -EIO);
	}
	r.prof.fp.dry_run = !train;
	r.prof.fp.bayes.top_n = explain ? 15 : 0;
	if (train && fileset_new(&r.seen) < 0) {
		run_close(&r);
		fprintf(stderr, "spamsift: out of memory\n");
		return CLI_STORE;
	}
	/* Without the cache it only runs slower. */
	cache = db_cache_new(CLASSIFY_CACHE_BYTES);
	if (cache != NULL && db_cache_attach(c->store, cache) < 0) {
		db_cache_free(cache);
		cache = NULL;
	}
	if (cache != NULL && has_dir(argc, argv, optind)) {
		/* Without the models in memory it only runs slower. */
		if (uid > 0)
			db_cache_prefetch(c->store, uid);
		if (r.prof.fp.global_model &&
		    db_user(c->store, DB_GLOBAL_USER, 0, &guid) == 0 && guid > 0)
			db_cache_prefetch(c->store, guid);
	}
	for_each_input(&r, argc, argv, optind, classify_one);
	if (cache != NULL) {
		db_cache_attach(c->store, NULL);
		db_cache_free(cache);
	}
	rc = r.rc;
	run_close(&r);
	return rc;
}

/* ---- tokens ---- */

static const char tokens_help[] =
    "usage: spamsift tokens [FILE|DIR|MBOX|-]...\n"
    "\n"
    "Print the tokens the parser reads from each message, one per line;\n"
    "each message's list follows a \"==> NAME\" line (NAME: a directory's\n"
    "file, MBOX#N for an mbox's messages), unless the only input is one\n"
    "message.\n";

static int tokens_one(void *arg, const char *label, const char *data, size_t len)
{
	run *r = arg;
	int rc;

	if (empty_input(r, label, len, "a message"))
		return 0;
	rc = tokenize(r, data, len);
	if (rc < 0) {
		fprintf(stderr, "spamsift: %s: cannot parse: %s\n", label, strerror(-rc));
		r->rc = CLI_INPUT;
		return 0;
	}
	/* Unlabelled only when the one input named is one message. */
	if (r->sole == NULL || strcmp(label, r->sole) != 0) {
		fputs("==> ", stdout);
		cli_text_str(stdout, label);
		putchar('\n');
	}
	for (size_t i = 0; i < tokset_count(r->toks); i++) {
		const char *t = tokset_text(r->toks, i);

		if (t != NULL) {
			cli_text_str(stdout, t);
			putchar('\n');
		} else
			printf("#%016" PRIx64 "\n", tokset_hash(r->toks, i));
	}
	return ferror(stdout) ? 1 : 0;  /* nobody reads the rest */
}

int cmd_tokens(cli *c, int argc, char **argv)
{
	int rc;
	run r;

	if (cli_wants_help(argc, argv)) {
		fputs(tokens_help, stdout);
		return CLI_OK;
	}
	/* It takes no options: "--bogus" is a mistake, not a file name
	 * (./-name reaches such a file, and so does "--" before it, as for
	 * every command). */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			memmove(argv + i, argv + i + 1,
			    (size_t)(argc - i) * sizeof(*argv));
			argc--;
			break;
		}
		if (argv[i][0] == '-' && argv[i][1] != '\0')
			return cli_usage(tokens_help, "tokens: unknown option %s",
			    argv[i]);
	}
	if ((rc = run_open(&r, c, 1)) != CLI_OK)
		return rc;
	r.sole = argc == 2 ? argv[1] : argc < 2 ? "-" : NULL;
	for_each_input(&r, argc, argv, 1, tokens_one);
	rc = r.rc;
	run_close(&r);
	return rc;
}
