/*
 * check_delivered -- Check suite for classifier/delivered (a copy as
 * delivered, back to what the milter read of it).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/delivered.h"
#include "tests/testutil.h"

/* delivered_undo of s; the copy (NUL-terminated, static) or NULL. */
static const char *undo_f(const char *s, const char *tag, unsigned received,
    int flags)
{
	static char buf[4096];
	char *o;
	size_t n;
	int rc = delivered_undo(s, strlen(s), tag, received, flags, &o, &n);

	ck_assert_int_ge(rc, 0);
	if (rc == 0) {
		ck_assert_ptr_null(o);
		return NULL;
	}
	ck_assert_uint_lt(n, sizeof(buf));
	memcpy(buf, o, n);
	buf[n] = '\0';
	free(o);
	return buf;
}

static const char *undo(const char *s, const char *tag, unsigned received)
{
	return undo_f(s, tag, received, 0);
}

#define MSG "From: a@example.org\nSubject: hello\n\nhi there\n"

START_TEST(test_delivery_fields)
{
	/* local(8)'s fields on top of the header, any case, folded too;
	 * a body line that looks like a field stays */
	ck_assert_str_eq(undo("Return-Path: <a@example.org>\nDelivered-To: "
	    "b@example.net\nx-original-to :\n b@example.net\n" MSG
	    "Delivered-To: body\n", "[SPAM]", 0), MSG "Delivered-To: body\n");
	/* below the first other field they were there when the milter read
	 * the message (a forwarded copy's upstream Delivered-To) */
	ck_assert_str_eq(undo("Delivered-To: b@example.net\nFrom: a\n"
	    "Delivered-To: old@upstream.example\nReturn-Path: <x@y>\n\nx\n",
	    "", 0), "From: a\nDelivered-To: old@upstream.example\n"
	    "Return-Path: <x@y>\n\nx\n");
	/* CRLF lines */
	ck_assert_str_eq(undo("Delivered-To: b\r\nFrom: a\r\n\r\nx\r\n", "", 0),
	    "From: a\r\n\r\nx\r\n");
	/* nothing to take: 0 */
	ck_assert_ptr_null(undo(MSG, "[SPAM]", 0));
	ck_assert_ptr_null(undo("", "[SPAM]", 0));
	/* a field whose name only starts so stays */
	ck_assert_ptr_null(undo("Delivered-Tox: b\n" MSG, "", 0));
}
END_TEST

START_TEST(test_received)
{
	const char *m = "Delivered-To: x\nReceived: from a\n\tby b; date\n"
	    "Received: from c\nReceived: from d\n" MSG;

	ck_assert_str_eq(undo(m, "", 0), "Received: from a\n\tby b; date\n"
	    "Received: from c\nReceived: from d\n" MSG);
	ck_assert_str_eq(undo(m, "", 1), "Received: from c\nReceived: from d\n" MSG);
	ck_assert_str_eq(undo(m, "", 3), MSG);
	/* fewer Received fields than asked for: no such form */
	ck_assert_ptr_null(undo(m, "", 4));
	/* in the body they are not counted */
	ck_assert_ptr_null(undo(MSG "Received: from e\n", "", 1));
	/* nor below the top (the first Received kept ends it) */
	ck_assert_ptr_null(undo("From: a\nReceived: from e\n\nx\n", "", 1));
	ck_assert_ptr_null(undo("Received: from a\nDelivered-To: x\n" MSG, "", 0));
}
END_TEST

START_TEST(test_subject_tag)
{
	ck_assert_str_eq(undo("Subject: [SPAM] hello\n\nx\n", "[SPAM]", 0),
	    "Subject: hello\n\nx\n");
	/* the tag's own blanks are not part of it */
	ck_assert_str_eq(undo("Subject:[SPAM] hello\n\nx\n", "  [SPAM] \t", 0),
	    "Subject:hello\n\nx\n");
	/* folded after the tag, as the milter does on a long first line */
	ck_assert_str_eq(undo("Subject: [SPAM]\r\n long one\r\n\r\nx\r\n",
	    "[SPAM]", 0), "Subject: long one\r\n\r\nx\r\n");
	/* the tag alone (the Subject was empty) */
	ck_assert_str_eq(undo("Subject: [SPAM]\nFrom: a\n\nx\n", "[SPAM]", 0),
	    "Subject: \nFrom: a\n\nx\n");
	/* only the first Subject, only at its start, only a whole word */
	ck_assert_str_eq(undo("Subject: [SPAM] a\nSubject: [SPAM] b\n\nx\n",
	    "[SPAM]", 0), "Subject: a\nSubject: [SPAM] b\n\nx\n");
	ck_assert_ptr_null(undo("Subject: re: [SPAM] a\n\nx\n", "[SPAM]", 0));
	ck_assert_ptr_null(undo("Subject: [SPAM]x\n\nx\n", "[SPAM]", 0));
	ck_assert_ptr_null(undo("Subject: [SPAM] a\n\nx\n", "", 0));
	/* a Subject in the body is not the message's */
	ck_assert_ptr_null(undo("From: a\n\nSubject: [SPAM] a\n", "[SPAM]", 0));
	/* the tag alone as a Subject the milter added: removed whole */
	ck_assert_str_eq(undo_f("From: a\nSubject: [SPAM]\n\nx\n", "[SPAM]", 0,
	    DELIVERED_ADDED_SUBJECT), "From: a\n\nx\n");
	ck_assert_str_eq(undo_f("Subject: [SPAM] a\n\nx\n", "[SPAM]", 0,
	    DELIVERED_ADDED_SUBJECT), "Subject: a\n\nx\n");
}
END_TEST

/* A tag past ASCII, as the milter writes it (RFC 2047) and as it is. */
START_TEST(test_encoded_tag)
{
	char enc[DELIVERED_TAG_MAX], m[1024];
	const char *tag = "[\xd0\xa1\xd0\x9f\xd0\x90\xd0\x9c]";    /* [СПАМ] */

	ck_assert_str_eq(delivered_tag(tag, enc), "=?UTF-8?B?W9Ch0J/QkNCcXQ==?=");
	ck_assert_str_eq(delivered_tag("[SPAM]", enc), "[SPAM]");
	snprintf(m, sizeof(m), "Subject: %s cheap\n\nx\n", enc);
	ck_assert_str_eq(undo(m, tag, 0), "Subject: cheap\n\nx\n");
	snprintf(m, sizeof(m), "Subject: %s cheap\n\nx\n", tag);
	ck_assert_str_eq(undo(m, tag, 0), "Subject: cheap\n\nx\n");
}
END_TEST

START_TEST(test_signature_lines)
{
	const char *id = "0123456789abcdef0123456789ABCDEF";
	char m[512], want[512];

	snprintf(m, sizeof(m), MSG "\r\n!spamsift:%s!\r\n!spamsift:%s!\n",
	    id, id);
	ck_assert_str_eq(undo(m, "", 0), MSG "\r\n");
	/* a mark inside a line, a short id, or one with more after it stays */
	snprintf(m, sizeof(m), MSG "see !spamsift:%s!\n!spamsift:%.31s!\n"
	    "!spamsift:%s!!\n", id, id, id);
	ck_assert_ptr_null(undo(m, "", 0));
	/* the last line without its line break */
	snprintf(m, sizeof(m), MSG "!spamsift:%s!", id);
	snprintf(want, sizeof(want), MSG);
	ck_assert_str_eq(undo(m, "", 0), want);
}
END_TEST

/* The envelope sender of a delivered copy: its first Return-Path. */
START_TEST(test_sender)
{
	char buf[256];
	const char *m = "Return-Path:\n <Bob@Example.ORG>\nReturn-Path: <x@y>\n"
	    "From: a@b\n\nReturn-Path: <z@w>\n";

	ck_assert_int_eq(delivered_sender(m, strlen(m), buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "bob@example.org");
	m = "Return-Path: <>\n\nx\n";
	ck_assert_int_eq(delivered_sender(m, strlen(m), buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "");
	m = "From: a@b\n\nReturn-Path: <z@w>\n";
	ck_assert_int_eq(delivered_sender(m, strlen(m), buf, sizeof(buf)), 0);
	/* as the milter reads MAIL FROM: a quoted local part unquoted (as a
	 * header's mailbox it gave no address), a source route dropped */
	m = "Return-Path: <\"Spam Mer\"@Evil.Example.>\n\nx\n";
	ck_assert_int_eq(delivered_sender(m, strlen(m), buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "spam mer@evil.example");
	m = "Return-Path: <@relay.example:\"a\\\"b>\"@d>\n\nx\n";
	ck_assert_int_eq(delivered_sender(m, strlen(m), buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "a\"b>@d");
	m = "Return-Path: bob@d\n\nx\n";
	ck_assert_int_eq(delivered_sender(m, strlen(m), buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "bob@d");
	m = "Return-Path: <\"long local part\"@d>\n\nx\n";
	ck_assert_int_eq(delivered_sender(m, strlen(m), buf, 8), 1);
	ck_assert_str_eq(buf, "long lo");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("delivered");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_delivery_fields);
	tcase_add_test(tc, test_received);
	tcase_add_test(tc, test_subject_tag);
	tcase_add_test(tc, test_signature_lines);
	tcase_add_test(tc, test_encoded_tag);
	tcase_add_test(tc, test_sender);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run(suite());
}
