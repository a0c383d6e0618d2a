/*
 * siem_geo.c — GeoIP enrichment (libmaxminddb, a GeoLite2-City-shaped
 * database at geoip.database) and impossible-travel detection.
 *
 * Enrichment runs on the ingest threads before matching, so Sigma rules
 * can use the labels source.geo.country_iso_code, source.geo.city_name,
 * source.geo.location.lat and .lon (the project's "two countries within
 * an hour" correlation does). MMDB lookups are read-only on a mapped
 * file and safe from any thread; the database is opened when a
 * generation names it and closed when no ingest thread can still use it
 * (reference count).
 *
 * Impossible travel runs on the pipeline thread: for each successful
 * authentication with a located source, the user's previous located
 * login (within geoip.window) is compared; when the great-circle distance
 * over the time between them needs more than geoip.max_speed_kmh (and the
 * places are more than 100 km apart, below which GeoIP error dominates),
 * an alert of kind "travel" explains both places, the distance, the time
 * and the speed. Per-user state is a bounded table (oldest evicted).
 *
 * Without libmaxminddb at build time enrichment is off (and says so once).
 */
#include "siem/siem_svc_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef BW_HAVE_MAXMINDDB
#include <maxminddb.h>
#endif

#define TRAVEL_USERS_MAX 65536u
#define TRAVEL_MIN_KM 100.0

struct geo_db {
	_Atomic int refs;
	char path[512];
#ifdef BW_HAVE_MAXMINDDB
	MMDB_s mmdb;
#endif
};

struct last_login {
	char user[128];
	int64_t ts;
	double lat, lon;
	char country[8], city[64], ip[48];
	bool used;
};

struct siem_geo {
	pthread_mutex_t mu;
	struct geo_db *db;
	struct last_login *users; /* pipeline thread only */
	size_t nusers;
	bool warned;
};

static void db_unref(struct geo_db *d)
{
	if (!d || atomic_fetch_sub(&d->refs, 1) != 1)
		return;
#ifdef BW_HAVE_MAXMINDDB
	MMDB_close(&d->mmdb);
#endif
	free(d);
}

int siem_geo_init(struct siem_service *svc, struct bw_err *err)
{
	struct siem_geo *g = calloc(1, sizeof(*g));
	if (!g)
		return SIEM_SVC_ERR(err, 500, "memory", "out of memory");
	pthread_mutex_init(&g->mu, NULL);
	svc->geo = g;
	return 0;
}

void siem_geo_fini(struct siem_service *svc)
{
	struct siem_geo *g = svc->geo;
	if (!g)
		return;
	db_unref(g->db);
	free(g->users);
	pthread_mutex_destroy(&g->mu);
	free(g);
	svc->geo = NULL;
}

/* Opens the generation's database when it differs from the current one.
 * A database that cannot be opened leaves enrichment off (logged). */
void siem_geo_apply(struct siem_service *svc, struct siem_gen *gen)
{
	struct siem_geo *g = svc->geo;
	if (!g)
		return;
	const char *path = gen->conf.geoip.database;
	pthread_mutex_lock(&g->mu);
	bool same = (!path && !g->db) || (path && g->db && strcmp(g->db->path, path) == 0);
	pthread_mutex_unlock(&g->mu);
	if (same)
		return;
	struct geo_db *d = NULL;
	if (path) {
#ifdef BW_HAVE_MAXMINDDB
		d = calloc(1, sizeof(*d));
		if (d) {
			atomic_store(&d->refs, 1);
			bw_snprintf(d->path, sizeof(d->path), "%s", path);
			int rc = MMDB_open(path, MMDB_MODE_MMAP, &d->mmdb);
			if (rc != MMDB_SUCCESS) {
				log_kv(BW_LOG_WARN, "siem geoip: cannot open the database", "path",
				       path, "error", MMDB_strerror(rc), NULL);
				free(d);
				d = NULL;
			}
		}
#else
		log_kv(BW_LOG_WARN, "siem geoip: built without libmaxminddb; enrichment is off",
		       "path", path, NULL);
#endif
	}
	pthread_mutex_lock(&g->mu);
	struct geo_db *old = g->db;
	g->db = d;
	pthread_mutex_unlock(&g->mu);
	db_unref(old);
}

#ifdef BW_HAVE_MAXMINDDB
static int geo_str(MMDB_lookup_result_s *r, char *out, size_t cap, const char *const *path)
{
	MMDB_entry_data_s e;
	if (MMDB_aget_value(&r->entry, &e, path) != MMDB_SUCCESS || !e.has_data ||
	    e.type != MMDB_DATA_TYPE_UTF8_STRING || e.data_size >= cap)
		return -1;
	memcpy(out, e.utf8_string, e.data_size);
	out[e.data_size] = '\0';
	return 0;
}

static int geo_double(MMDB_lookup_result_s *r, double *out, const char *const *path)
{
	MMDB_entry_data_s e;
	if (MMDB_aget_value(&r->entry, &e, path) != MMDB_SUCCESS || !e.has_data)
		return -1;
	if (e.type == MMDB_DATA_TYPE_DOUBLE)
		*out = e.double_value;
	else if (e.type == MMDB_DATA_TYPE_FLOAT)
		*out = e.float_value;
	else
		return -1;
	return 0;
}
#endif

void siem_geo_enrich(struct siem_service *svc, struct siem_batch *b, struct siem_event *ev)
{
#ifdef BW_HAVE_MAXMINDDB
	struct siem_geo *g = svc->geo;
	struct bw_str ip = ev->f[SIEM_F_SOURCE_IP];
	if (!g || !ip.p || ip.len >= 64 || !g->db)
		return;
	pthread_mutex_lock(&g->mu);
	struct geo_db *d = g->db;
	if (d)
		atomic_fetch_add(&d->refs, 1);
	pthread_mutex_unlock(&g->mu);
	if (!d)
		return;
	char ipz[64];
	memcpy(ipz, ip.p, ip.len);
	ipz[ip.len] = '\0';
	int gai = 0, mmerr = 0;
	MMDB_lookup_result_s r = MMDB_lookup_string(&d->mmdb, ipz, &gai, &mmerr);
	atomic_fetch_add(&svc->c.geo_lookups, 1);
	if (gai == 0 && mmerr == MMDB_SUCCESS && r.found_entry) {
		static const char *const cc[] = { "country", "iso_code", NULL };
		static const char *const city[] = { "city", "names", "en", NULL };
		static const char *const lat[] = { "location", "latitude", NULL };
		static const char *const lon[] = { "location", "longitude", NULL };
		char s[128];
		double v;
		if (geo_str(&r, s, sizeof(s), cc) == 0)
			(void)siem_event_label(ev, "source.geo.country_iso_code", 27,
					       bw_arena_strdup(b->arena, s), strlen(s));
		if (geo_str(&r, s, sizeof(s), city) == 0)
			(void)siem_event_label(ev, "source.geo.city_name", 20,
					       bw_arena_strdup(b->arena, s), strlen(s));
		if (geo_double(&r, &v, lat) == 0) {
			int n = snprintf(s, sizeof(s), "%.4f", v);
			(void)siem_event_label(ev, "source.geo.location.lat", 23,
					       bw_arena_strndup(b->arena, s, (size_t)n), (size_t)n);
		}
		if (geo_double(&r, &v, lon) == 0) {
			int n = snprintf(s, sizeof(s), "%.4f", v);
			(void)siem_event_label(ev, "source.geo.location.lon", 23,
					       bw_arena_strndup(b->arena, s, (size_t)n), (size_t)n);
		}
	}
	db_unref(d);
#else
	(void)svc;
	(void)b;
	(void)ev;
#endif
}

/* ------------------------------------------------------ impossible travel */

double siem_geo_km(double lat1, double lon1, double lat2, double lon2)
{
	const double r = 6371.0088, rad = M_PI / 180.0;
	double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
	double a = sin(dlat / 2) * sin(dlat / 2) +
		   cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
	return 2 * r * atan2(sqrt(a), sqrt(1 - a));
}

static bool label_double(const struct siem_event *ev, const char *k, double *out)
{
	struct bw_str v = siem_event_label_get(ev, k, strlen(k));
	char buf[32];
	if (!v.p || v.len == 0 || v.len >= sizeof(buf))
		return false;
	memcpy(buf, v.p, v.len);
	buf[v.len] = '\0';
	char *e;
	*out = strtod(buf, &e);
	return *e == '\0';
}

static void copy_label(const struct siem_event *ev, const char *k, char *out, size_t cap)
{
	struct bw_str v = siem_event_label_get(ev, k, strlen(k));
	size_t n = v.p ? (v.len < cap - 1 ? v.len : cap - 1) : 0;
	if (n)
		memcpy(out, v.p, n);
	out[n] = '\0';
}

static uint64_t user_hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

void siem_geo_travel(struct siem_service *svc, struct siem_batch *b, struct siem_rec *r)
{
	struct siem_geo *g = svc->geo;
	const struct siem_event *ev = &r->ev;
	struct bw_str user = ev->f[SIEM_F_USER_NAME];
	double lat, lon;
	if (!g || !user.p || user.len == 0 || user.len >= 128 ||
	    !bw_str_eq_lit(ev->f[SIEM_F_EVENT_CATEGORY], "authentication") ||
	    !bw_str_eq_lit(ev->f[SIEM_F_EVENT_OUTCOME], "success") ||
	    !label_double(ev, "source.geo.location.lat", &lat) ||
	    !label_double(ev, "source.geo.location.lon", &lon))
		return;
	if (!g->users && !(g->users = calloc(TRAVEL_USERS_MAX, sizeof(*g->users))))
		return;
	/* direct-mapped table: a colliding user replaces the older entry,
	 * which at worst misses one comparison */
	struct last_login *l = &g->users[user_hash(user.p, user.len) & (TRAVEL_USERS_MAX - 1)];
	bool same = l->used && strlen(l->user) == user.len &&
		    memcmp(l->user, user.p, user.len) == 0;
	const struct siem_gen *gen = b->gen;
	int64_t window = (int64_t)gen->conf.geoip.window_ms * 1000000LL;
	if (same && ev->ts_ns >= l->ts && ev->ts_ns - l->ts <= window) {
		double km = siem_geo_km(l->lat, l->lon, lat, lon);
		double hours = (double)(ev->ts_ns - l->ts) / 3.6e12;
		double kmh = hours > 0 ? km / hours : INFINITY;
		if (km > TRAVEL_MIN_KM && kmh > (double)gen->conf.geoip.max_kmh) {
			char country[8], city[64], ip[48];
			copy_label(ev, "source.geo.country_iso_code", country, sizeof(country));
			copy_label(ev, "source.geo.city_name", city, sizeof(city));
			struct bw_str sip = ev->f[SIEM_F_SOURCE_IP];
			snprintf(ip, sizeof(ip), "%.*s", sip.p ? (int)(sip.len > 46 ? 46 : sip.len) : 0,
				 sip.p ? sip.p : "");
			struct bw_buf ctx;
			bw_buf_init(&ctx, 8192);
			struct json_writer w;
			json_writer_init(&w, &ctx);
			json_write_object_begin(&w);
			char expl[256];
			snprintf(expl, sizeof(expl),
				 "%.0f km in %.2f h is %.0f km/h, faster than %u km/h", km, hours,
				 isinf(kmh) ? 1e9 : kmh, gen->conf.geoip.max_kmh);
			json_write_kv_string(&w, "explanation", expl);
			json_write_key(&w, "from");
			json_write_object_begin(&w);
			json_write_kv_string(&w, "ip", l->ip);
			json_write_kv_string(&w, "country", l->country);
			json_write_kv_string(&w, "city", l->city);
			json_write_kv_int(&w, "time_ms", l->ts / 1000000);
			json_write_object_end(&w);
			json_write_key(&w, "to");
			json_write_object_begin(&w);
			json_write_kv_string(&w, "ip", ip);
			json_write_kv_string(&w, "country", country);
			json_write_kv_string(&w, "city", city);
			json_write_kv_int(&w, "time_ms", ev->ts_ns / 1000000);
			json_write_object_end(&w);
			json_write_key(&w, "distance_km");
			json_write_double(&w, round(km));
			json_write_key(&w, "hours");
			json_write_double(&w, round(hours * 100) / 100);
			json_write_key(&w, "speed_kmh");
			json_write_double(&w, isinf(kmh) ? 1e9 : round(kmh));
			json_write_object_end(&w);
			char uz[128];
			memcpy(uz, user.p, user.len);
			uz[user.len] = '\0';
			struct bw_str t = ev->f[SIEM_F_TENANT];
			struct siem_alert_in ai = {
				.rule_key = "bulwark:impossible-travel",
				.title = "Impossible travel between two logins",
				.kind = "travel",
				.level = SIEM_LEVEL_HIGH,
				.group = uz,
				.tenant = t.p ? bw_arena_strndup(b->arena, t.p, t.len) : NULL,
				.ts = ev->ts_ns,
				.first_ts = l->ts,
				.count = 1,
				.event_id = r->id,
				.context = json_writer_finish(&w) == 0 ? ctx.data : "{}",
			};
			(void)siem_alert_raise(svc, b, &ai);
			bw_buf_fini(&ctx);
		}
	}
	if (!same || ev->ts_ns >= l->ts) {
		memset(l, 0, sizeof(*l));
		memcpy(l->user, user.p, user.len);
		l->ts = ev->ts_ns;
		l->lat = lat;
		l->lon = lon;
		l->used = true;
		copy_label(ev, "source.geo.country_iso_code", l->country, sizeof(l->country));
		copy_label(ev, "source.geo.city_name", l->city, sizeof(l->city));
		struct bw_str sip = ev->f[SIEM_F_SOURCE_IP];
		snprintf(l->ip, sizeof(l->ip), "%.*s", sip.p ? (int)(sip.len > 46 ? 46 : sip.len) : 0,
			 sip.p ? sip.p : "");
	}
}
