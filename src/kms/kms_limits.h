/*
 * kms limits: what the REST layer accepts before anything reaches the key
 * process. The key process enforces its own (keystore_limits.h); these
 * keep a request's JSON and the reply that answers it inside one wire
 * message.
 */
#ifndef BW_KMS_LIMITS_H
#define BW_KMS_LIMITS_H

#include "keystore/keystore_limits.h"

/* Items in one REST batch: the protocol's batch maximum. */
#define KMS_BATCH_MAX KEYSTORE_BATCH_MAX
/* Sum of plaintext bytes in one encrypt batch: the armoured ciphertexts
 * (4/3 of it plus 68 bytes each) must fit one 192 KiB reply. */
#define KMS_BATCH_PLAINTEXT_MAX (128u * 1024u)
/* Base64 text of one data field (plaintext, message, AAD): 4/3 of the
 * 64 KiB protocol maximum, rounded up. */
#define KMS_B64_FIELD_MAX (88u * 1024u)
/* A key list page over REST. */
#define KMS_LIST_LIMIT_DEFAULT 100u
/* Timeout for one REST-initiated key operation (key generation of
 * RSA-4096 takes seconds). */
#define KMS_API_TIMEOUT_MS 30000

#endif
