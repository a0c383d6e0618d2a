/*
 * fuzz_query — libFuzzer target for the search query parser and the
 * full-text skip index's one promise.
 *
 * The input is "QUERY\0TEXT". The query must parse or fail cleanly,
 * within SIEM_SEARCH_TERMS_MAX terms, every value lowercased and
 * NUL-terminated. Then, for every positive word or phrase term that the
 * exact verifier finds in TEXT, the bloom filter built from TEXT must
 * hold all of the term's tokens: otherwise a search would skip a block
 * that contains a match.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "siem/siem_search.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_query: %s failed (%s:%d)\n", #c, \
				__FILE__, __LINE__);                           \
			abort();                                               \
		}                                                              \
	} while (0)

struct has {
	const uint8_t *bloom;
	bool all;
};

static void has_cb(void *arg, const char *t, size_t n)
{
	struct has *h = arg;
	if (!siem_bloom_has_token(h->bloom, SIEM_BLOOM_V2, t, n))
		h->all = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	const char *nul = memchr(p, '\0', size);
	size_t qlen = nul ? (size_t)(nul - p) : size;
	const char *text = nul ? nul + 1 : "";
	size_t tlen = nul ? size - qlen - 1 : 0;
	static struct siem_query q;
	memset(&q, 0, sizeof(q));
	struct bw_err err;
	int rc = siem_query_parse(&q, p, qlen, &err);
	CHECK(rc == 0 || rc == -1);
	CHECK(q.nterms <= SIEM_SEARCH_TERMS_MAX);
	static uint8_t bloom[SIEM_BLOOM_BYTES];
	memset(bloom, 0, sizeof(bloom));
	siem_bloom_add_text(bloom, text, tlen);
	for (size_t i = 0; i < q.nterms; i++) {
		const struct siem_term *t = &q.terms[i];
		CHECK(t->len > 0 && t->len < sizeof(t->value) && t->value[t->len] == '\0');
		for (size_t k = 0; k < t->len; k++)
			CHECK(!(t->value[k] >= 'A' && t->value[k] <= 'Z'));
		if (t->neg || t->prefix || t->field[0])
			continue;
		if (!find_word(text, tlen, t->value, t->len, false))
			continue;
		struct has h = { bloom, true };
		siem_tokens(t->value, t->len, has_cb, &h);
		CHECK(h.all);
	}
	/* a filter built from the same bytes behaves like a parsed one */
	char f[64], v[256];
	size_t fl = qlen < sizeof(f) - 1 ? qlen : sizeof(f) - 1;
	memcpy(f, p, fl);
	f[fl] = '\0';
	size_t vl = tlen < sizeof(v) - 1 ? tlen : sizeof(v) - 1;
	memcpy(v, text, vl);
	v[vl] = '\0';
	memset(&q, 0, sizeof(q));
	int frc = siem_query_add_filter(&q, f, v, &err);
	CHECK(frc == 0 || frc == -1);
	CHECK(q.nterms <= 1);
	return 0;
}
