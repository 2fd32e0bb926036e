// test_main.cpp: the doctest main of certs_test (tools/certs' in-process
// tests). It does not start the gort runtime: gort_certs does not use it.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
