# authz: relationship-based authorization (OpenFGA semantics).
bw_module(authz
  SOURCES src/authz/authz_cel.c
  DEPS core json)

bw_unit_test(test_authz_cel authz src/authz/tests/test_authz_cel.c)
