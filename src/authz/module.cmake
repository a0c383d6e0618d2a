# authz: relationship-based authorization (OpenFGA semantics).
bw_module(authz
  SOURCES src/authz/authz_cel.c src/authz/authz_model.c src/authz/authz_dsl.c
          src/authz/authz_json.c
  DEPS core json)

bw_unit_test(test_authz_cel authz src/authz/tests/test_authz_cel.c)
bw_unit_test(test_authz_model authz src/authz/tests/test_authz_model.c)
