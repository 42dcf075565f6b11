/*
 * dec -- streaming decoders for MIME transfer encodings: base64 and
 * quoted-printable. Each keeps its whole state in one small integer owned by
 * the caller, so input may be split anywhere. Pure C: no allocation, no I/O.
 */
#ifndef SPAMSIFT_DEC_H
#define SPAMSIFT_DEC_H

#include <stddef.h>
#include <stdint.h>

/*
 * dec_b64 -- decode base64 text, tolerant: characters outside the alphabet
 * (line ends, junk) are skipped, missing padding is fine; '=' ends the
 * group before it (the next starts aligned: concatenated or line by line
 * encodings decode; a lone character before it gives no byte).
 * state: 0 at the start of a part; carries up to 3 pending sextets.
 * out: room for at least (len * 3) / 4 + 3 bytes.
 * Returns the number of bytes written to out.
 */
size_t dec_b64(uint32_t *state, const char *in, size_t len, unsigned char *out);

/*
 * dec_b64_end -- flush the bytes of an unpadded final group (missing
 * padding): writes 0-2 bytes to out, resets *state to 0, returns the count.
 */
size_t dec_b64_end(uint32_t *state, unsigned char *out);

/*
 * dec_qp -- decode quoted-printable text of one line piece (without its line
 * end). state: 0 at the start of a part. eol: non-zero when the piece ends a
 * line; then a newline is written unless the line ended with a soft break
 * ('='). Malformed escapes are kept literally.
 * out: room for at least len + 3 bytes.
 * Returns the number of bytes written to out.
 */
size_t dec_qp(uint32_t *state, const char *in, size_t len, int eol,
	unsigned char *out);

#endif
