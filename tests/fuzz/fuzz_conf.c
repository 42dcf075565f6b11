/*
 * fuzz_conf -- libFuzzer target for conf/: the input is parsed as a config
 * file, then its first line as a -o override and the rest as a preference;
 * conf_finish and conf_iter run over whatever loaded. Any crash, leak or
 * undefined behaviour is a bug: hostile config text must only give errors.
 *
 * Built with --enable-fuzzers (CC=clang). Run:
 *   tests/fuzz/fuzz_conf -max_len=20000 $(srcdir)/tests/fuzz/corpus_conf
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore_warning(void *arg, const char *text)
{
	/* Touch the text so a bad pointer shows up under ASan. */
	*(size_t *)arg += strlen(text);
}

static int visit(void *arg, const char *key, const char *value,
    const char *source)
{
	*(size_t *)arg += strlen(key) + strlen(value) + strlen(source);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], *text, *eq;
	size_t sum = 0;
	conf *c;

	if (conf_new(&c) < 0)
		return 0;
	if (conf_parse(c, "fuzz", (const char *)data, size, err, sizeof(err),
	    ignore_warning, &sum) == 0 && conf_finish(c, err, sizeof(err)) == 0) {
		size_t n;

		conf_iter(c, visit, &sum);
		conf_list(c, "Trust", &n);
		(void)conf_pref_default(c, "spamAction");
		(void)conf_pref_overridable(c, "spamSubject");
	}
	conf_unref(c);

	/* The same bytes as -o overrides and preference values (C strings). */
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (conf_new(&c) == 0) {
		char *nl = strchr(text, '\n');

		if (nl != NULL)
			*nl = '\0';
		(void)conf_set_warn(c, text, err, sizeof(err), ignore_warning, &sum);
		(void)conf_finish(c, err, sizeof(err));
		conf_unref(c);
		if (nl != NULL && (eq = strchr(nl + 1, '=')) != NULL) {
			*eq = '\0';
			(void)conf_pref_check(nl + 1, eq + 1, err, sizeof(err));
			(void)conf_pref_canon(nl + 1, eq + 1);
			(void)conf_pref_name(nl + 1);
		}
	}
	free(text);
	return 0;
}
