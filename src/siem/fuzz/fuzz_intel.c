/*
 * fuzz_intel — libFuzzer target for the threat-intelligence feed parsers
 * (CSV and STIX 2.1 bundles) and the indicator set built from them.
 *
 * The first byte picks the format. Whatever parses, every indicator the
 * set holds must be found again by its own lookup (an address or a
 * CIDR's network address by the radix trie, a domain, URL or hash by the
 * hash table), and lookups of arbitrary text must not fail.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "siem/siem_svc_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "fuzz_intel: %s failed (%s:%d)\n", #c, \
				__FILE__, __LINE__);                           \
			abort();                                               \
		}                                                              \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct siem_intel_set *s = siem_intel_set_new();
	CHECK(s);
	struct bw_err err;
	struct siem_indicator ctx = { .feed = "fuzz", .level = 4, .confidence = -1 };
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	int r = data[0] & 1 ? siem_intel_parse_stix(s, p, n, &ctx, &err) :
			      siem_intel_parse_csv(s, p, n, &ctx, &err);
	CHECK(r >= -1);
	CHECK(siem_intel_finish(s) == 0);
	for (size_t i = 0; i < siem_intel_set_count(s); i++) {
		const struct siem_indicator *d = siem_intel_set_at(s, i);
		size_t l = strlen(d->value);
		CHECK(l > 0 && l <= SIEM_INTEL_VALUE_MAX);
		CHECK(strcmp(d->feed, "fuzz") == 0);
		if (d->type == SIEM_IOC_IP) {
			CHECK(siem_intel_match_ip(s, d->value, l) != NULL);
		} else if (d->type == SIEM_IOC_CIDR) {
			/* its network address is inside it */
			char net[64];
			const char *slash = strchr(d->value, '/');
			CHECK(slash && (size_t)(slash - d->value) < sizeof(net));
			memcpy(net, d->value, (size_t)(slash - d->value));
			net[slash - d->value] = '\0';
			uint8_t a[16];
			int fam = strchr(net, ':') ? AF_INET6 : AF_INET;
			CHECK(inet_pton(fam, net, a) == 1);
			long bits = strtol(slash + 1, NULL, 10);
			/* clear host bits, then look the network address up */
			for (long b = bits; b < (fam == AF_INET ? 32 : 128); b++)
				a[b / 8] &= (uint8_t)~(1u << (7 - b % 8));
			CHECK(inet_ntop(fam, a, net, sizeof(net)));
			CHECK(siem_intel_match_ip(s, net, strlen(net)) != NULL);
		} else if (d->type == SIEM_IOC_DOMAIN) {
			CHECK(siem_intel_match_domain(s, d->value, l) != NULL);
		} else {
			CHECK(siem_intel_match(s, d->type, d->value, l) != NULL);
		}
	}
	/* arbitrary lookups */
	size_t k = n < 300 ? n : 300;
	(void)siem_intel_match_ip(s, p, k);
	(void)siem_intel_match_domain(s, p, k);
	(void)siem_intel_match(s, SIEM_IOC_URL, p, k);
	siem_intel_set_unref(s);
	return 0;
}
