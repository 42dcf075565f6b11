/*
 * msg -- the streaming message parser: reads one mail message (header
 * fields and body chunks as libmilter delivers them, or raw bytes as in a
 * file) and adds everything the classifier can learn from it to a token set.
 * Pure C: no SQLite, libmilter or syslog. Not thread-safe: one msg per
 * thread (or per milter connection), reused for each message.
 *
 * Limits: body bytes scanned (max_scan_bytes), header field length
 * (max_header_len), MIME depth (max_depth), word length (max_token_len);
 * the number of tokens per message is the cap of the token set passed to
 * msg_reset (tokset_new). To see what was read, give msg_reset a set made
 * with keep_text and list it with tokset_text (`spamsift tokens FILE`).
 *
 * Memory per message is bounded by the options whatever the input (a few
 * fixed buffers of about max_header_len and 8 KiB, a MIME stack of max_depth
 * entries, the token set's cap); time is linear in the input; the body is
 * never copied whole.
 *
 * TOKEN SCHEME. Every token is a short byte string (UTF-8 wherever the input
 * allows); the set keeps its XXH3-64 hash (tok.h). Words follow words.h (lowercase, 2..max_token_len bytes;
 * longer ones become "skip:<k>:<n>", long digit runs "num:<n>d"):
 *   <word>                    a word of a text/plain body part
 *   <word>                    visible text of a text/html part (html.h)
 *   a+b, a+?+b, ...           word pairs, when chained / osb are set
 *   hdr:<Name>                a header field is present and its value gives
 *                             no token of its own (see hdr.h; names
 *                             canonical: "In-Reply-To", see hdr_canon)
 *   <Name>:<word>             a word of a header ("Subject:free")
 *   From:addr:<a@b>, From:domain:<b>, Received:ip:<ip>, ...  see hdr.h
 *   url:host:<h>, url:domain:<d>, url:path:<p>, url:ip:<ip>  see url.h
 *   html:<tag>, html:<tag>-<attr>, html:hidden, ...           see html.h
 *   mime:type:<type/subtype>  each part's declared type (the top level too;
 *                             Content-* fields give no words)
 *   mime:charset:<name>       each declared charset
 *   mime:charset-unknown:<n>  a charset iconv does not know (the text is then
 *                             read as UTF-8, windows-1252 where it is not);
 *                             an HTML part without a charset parameter is
 *                             read with the one a <meta> declares in its
 *                             first 1024 bytes (no mime:charset: token)
 *   mime:cte:<encoding>       each Content-Transfer-Encoding, lowercase
 *   mime:no-boundary          a multipart without boundary (read as text)
 *   mime:depth-exceeded       a part nested deeper than max_depth (skipped)
 *   mime:unterminated         a multipart without its final boundary
 *   mime:parts:<n>            number of leaf parts, bucketed 1,2,3,4,5-9,
 *                             10-99 as "10", 100+ as "100"
 *   attach:ext:<ext>          filename extension (lowercase, up to 8 bytes;
 *                             "attach:ext:long" otherwise, "attach:ext:none")
 *   attach:ext2:<e1>.<e2>     a double extension ("invoice.pdf.exe")
 *   attach:magic:<type>       the type libmagic finds in the first 8 KiB
 *                             of the decoded part (when opts.magic is set;
 *                             the first 16 attachments of a message)
 *   attach:magic:limit        a message with more attachments than that
 *   attach:mismatch           declared type or extension disagree with it,
 *   attach:mismatch:<ext>:<magic-type>  and which
 *   msg:truncated             the body was longer than max_scan_bytes
 *   hdr:truncated             so was the top-level header (its later
 *                             fields but Content-* give no token)
 *   msg:no-headers            raw input whose first line is not a header
 *   hdr:malformed             a header line whose name has blanks inside
 * Headers named X-Spamsift-* and those in opts.ignore_headers give no token.
 */
#ifndef SPAMSIFT_MSG_H
#define SPAMSIFT_MSG_H

#include <stddef.h>

#include "classifier/tok.h"

/* Parser options; msg_opts_default sets the documented defaults. */
typedef struct msg_opts {
	size_t max_scan_bytes;  /* body bytes scanned per message (default 512 KiB); the rest only counted */
	size_t max_header_len;  /* bytes of one unfolded header field kept (default 16 KiB, min 256) */
	int max_depth;          /* MIME nesting (default 16, max 64); deeper parts skipped, token noted */
	size_t max_token_len;   /* longer words become one "skip:" token (default 40, 2..WORDS_MAXLEN = 1024) */
	int chained;            /* also adjacent word pairs (DSPAM's Feature chained) */
	int osb;                /* orthogonal sparse bigrams, window 5 */
	const char *const *ignore_headers; /* NULL-terminated extra field names to ignore (case-insensitive, a trailing '*' matches a prefix); X-Spamsift-* always ignored; borrowed */
	void *magic;            /* magic_t handle (borrowed; one per thread), NULL = no attach:magic tokens (unless magic_type) */
	/*
	 * Instead of a handle of its own (magic NULL), the parser may ask this
	 * function for an attachment's type: it copies the MIME type libmagic
	 * finds in buf[0..len) into out (outlen bytes) and returns out, or
	 * NULL. It lets a caller lend a shared handle for the call only.
	 */
	const char *(*magic_type)(void *arg, const void *buf, size_t len,
	    char *out, size_t outlen);
	void *magic_arg;        /* magic_type's first argument */
	/*
	 * NULL, or called with the decoded bytes of each text part (a text
	 * type, or a message type read as text) sent base64 or quoted-printable,
	 * in order, in pieces split anywhere, before charset conversion; then
	 * once with (NULL, 0) when that part ends. Only the scanned bytes
	 * (max_scan_bytes) are given. It lets a caller find text the raw
	 * bytes hide (the spamsift command: the signature marks of a
	 * forwarded copy) without decoding the message a second time.
	 */
	void (*encoded_text)(void *arg, const char *s, size_t n);
	void *encoded_arg;      /* encoded_text's first argument */
} msg_opts;

#define MSG_DEFAULT_SCAN (512 * 1024)
#define MSG_DEFAULT_HEADER (16 * 1024)
#define MSG_DEFAULT_DEPTH 16
#define MSG_DEFAULT_TOKLEN 40

/* msg_opts_default -- fill o with the defaults (no pairs, no ignore list, no magic). */
void msg_opts_default(msg_opts *o);

typedef struct msg msg;

/*
 * msg_new -- create a parser with a copy of *o (NULL = defaults; the
 * ignore_headers array and magic handle are borrowed and must outlive it).
 * Returns 0 and *out (caller frees with msg_free), or -ENOMEM.
 */
int msg_new(const msg_opts *o, msg **out);

/* msg_free -- free the parser; accepts NULL. */
void msg_free(msg *m);

/*
 * msg_reset -- start a new message whose tokens go to out (borrowed until the
 * next msg_reset or msg_free). Must be called before the first message.
 */
void msg_reset(msg *m, tokset *out);

/*
 * msg_header -- one header field as libmilter gives it: name without ':',
 * value without "Name:" (may contain folded CRLF + blank). Both
 * NUL-terminated, borrowed. Returns 0, -ENOMEM, or -EINVAL when called after
 * msg_eoh or in raw mode.
 */
int msg_header(msg *m, const char *name, const char *value);

/* msg_eoh -- end of the header; 0 or a negative errno (as msg_header). */
int msg_eoh(msg *m);

/*
 * msg_body -- the next body chunk: any size, split anywhere, CRLF, LF or CR
 * line ends. Calls msg_eoh first if it was not called. Returns 0 or -ENOMEM.
 */
int msg_body(msg *m, const char *buf, size_t len);

/*
 * msg_write -- or: the next chunk of a raw message (header and body, as in a
 * file; a leading mbox "From " line is skipped). Use either msg_header /
 * msg_eoh / msg_body or msg_write for one message, not both.
 * Returns 0, -ENOMEM, or -EINVAL after msg_header/msg_body.
 */
int msg_write(msg *m, const char *buf, size_t len);

/* msg_end -- end of the message: flush everything. Returns 0 or -ENOMEM. */
int msg_end(msg *m);

/* msg_subject -- decoded Subject (UTF-8), borrowed until msg_reset; "" if none. */
const char *msg_subject(const msg *m);

/* msg_from_addr -- first address of From:, lowercase, borrowed; "" if none. */
const char *msg_from_addr(const msg *m);

/* msg_scanned -- body bytes read and tokenized so far. */
size_t msg_scanned(const msg *m);

/* msg_total -- body bytes seen so far (scanned or only counted). */
size_t msg_total(const msg *m);

/* msg_parts -- leaf MIME parts found so far (a plain message has 1). */
size_t msg_parts(const msg *m);

#endif
