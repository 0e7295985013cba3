/* Compile checks of driver.h's export prototypes (tests/integration/sdk_header_checks.cmake).
 * Built three ways with -fsyntax-only: as is, the two exports are right and it must compile;
 * with -DHERALD_CHECK_WRONG_TYPE the probe returns int instead of uint32_t, which the prototype
 * makes a compile error ("conflicting types"); with -DHERALD_CHECK_MISSPELT the probe's name has
 * a typo, which -Wmissing-prototypes -Werror reports (without it, only the load would fail). */
#include <herald/driver.h>

static int check_instance;

static int check_create(const herald_host_api* host, const herald_config* config, void** out,
                        herald_error* err) {
  (void)host;
  (void)config;
  (void)err;
  *out = &check_instance;
  return HERALD_OK;
}
static void check_destroy(void* instance) { (void)instance; }
static int check_publish(void* instance, const herald_str* topics, size_t n_topics,
                         const herald_str* messages, size_t n_messages, herald_error* err) {
  (void)instance;
  (void)topics;
  (void)n_topics;
  (void)messages;
  (void)n_messages;
  (void)err;
  return HERALD_OK;
}
static const herald_driver_descriptor kDescriptor = {
    .struct_size = sizeof(herald_driver_descriptor),
    .name = "check",
    .version = "1.0.0",
    .create = check_create,
    .destroy = check_destroy,
    .publish = check_publish,
};

#if defined(HERALD_CHECK_WRONG_TYPE)
HERALD_EXPORT int herald_driver_abi_version(void) { return (int)HERALD_ABI_VERSION; }
#elif defined(HERALD_CHECK_MISSPELT)
HERALD_EXPORT uint32_t herald_driver_abi_verison(void) { return HERALD_ABI_VERSION; }
#else
HERALD_EXPORT uint32_t herald_driver_abi_version(void) { return HERALD_ABI_VERSION; }
#endif
HERALD_EXPORT const herald_driver_descriptor* herald_driver_get_descriptor(void) {
  return &kDescriptor;
}
