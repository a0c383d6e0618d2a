/*
 * siem_ext.c — the extensions that run beside the core pipeline, in one
 * place so the pipeline calls a handful of hooks: GeoIP enrichment (ingest
 * threads, before matching), threat intelligence, anomaly baselines and
 * impossible travel (pipeline thread, per event), notifications and
 * forwarding (after a batch is durable), and their periodic work (service
 * thread tick).
 */
#include "siem/siem_svc_int.h"

int siem_ext_init(struct siem_service *svc, struct bw_err *err)
{
	if (siem_fwd_init(svc, err) < 0 || siem_feeds_init(svc, err) < 0)
		return -1;
	return siem_geo_init(svc, err);
}

void siem_svc_apply_gen(struct siem_service *svc, struct siem_gen *g)
{
	siem_fwd_apply_gen(svc, g);
	siem_geo_apply(svc, g);
}

void siem_ext_tick(struct siem_service *svc, struct siem_gen *g)
{
	siem_fwd_tick(svc);
	siem_feeds_tick(svc, g);
}

void siem_ext_fini(struct siem_service *svc)
{
	siem_fwd_fini(svc);
	siem_feeds_fini(svc);
	siem_geo_fini(svc);
}

void siem_ext_enrich(struct siem_service *svc, struct siem_batch *b,
		     struct siem_event *ev)
{
	siem_geo_enrich(svc, b, ev);
}

void siem_ext_event(struct siem_service *svc, struct siem_batch *b, struct siem_rec *r)
{
	siem_feeds_event(svc, b, r);
	siem_geo_travel(svc, b, r);
	siem_anomaly_event(svc, b, r);
}
