/* Internals of the kms module shared between its files. */
#ifndef BW_KMS_INT_H
#define BW_KMS_INT_H

#include "kms/kms.h"
#include "kms/kms_limits.h"

#endif
