/*
 * conf -- configuration (placeholder until the parser lands).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "conf/conf.h"

struct conf {
	int refs; /* references */
};

int conf_new(conf **out)
{
	*out = calloc(1, sizeof(**out));
	if (*out == NULL)
		return -ENOMEM;
	(*out)->refs = 1;
	return 0;
}

void conf_unref(conf *c)
{
	if (c != NULL && --c->refs == 0)
		free(c);
}

int conf_load(conf *c, const char *path, char *err, size_t errlen,
    void (*warn)(void *arg, const char *text), void *arg)
{
	(void)c; (void)path; (void)err; (void)errlen; (void)warn; (void)arg;
	return 0;
}

int conf_set(conf *c, const char *keyval, char *err, size_t errlen)
{
	(void)c; (void)keyval; (void)err; (void)errlen;
	return 0;
}

int conf_finish(conf *c, char *err, size_t errlen)
{
	(void)c; (void)err; (void)errlen;
	return 0;
}

conf *conf_ref(conf *c)
{
	c->refs++;
	return c;
}

const char *conf_str(const conf *c, const char *key)
{
	(void)c; (void)key;
	return NULL;
}

long conf_int(const conf *c, const char *key)
{
	(void)c; (void)key;
	return 0;
}
