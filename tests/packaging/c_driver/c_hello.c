/* A driver in plain C99 against the installed SDK (herald/driver.h only): each message is
 * logged through the host as "c-hello: <topics> <message>". The packaging tests build it
 * with the CMake package from a C-only project, and with pkg-config and cc. */
#include <herald/driver.h>

#include <stdio.h>

static int hello_create(const herald_host_api* host, const herald_config* config,
                        void** out_instance, herald_error* err) {
  (void)config;
  (void)err;
  *out_instance = (void*)host; /* the host API stays valid until destroy */
  return HERALD_OK;
}

static void hello_destroy(void* instance) { (void)instance; }

static int hello_publish(void* instance, const herald_str* topics, size_t n_topics,
                         const herald_str* messages, size_t n_messages, herald_error* err) {
  const herald_host_api* host = (const herald_host_api*)instance;
  size_t m;
  (void)err;
  for (m = 0; m < n_messages; ++m) {
    char line[512];
    int n = snprintf(line, sizeof line, "c-hello: %.*s%s %.*s", (int)topics[0].size, topics[0].data,
                     n_topics > 1 ? ",..." : "", (int)messages[m].size, messages[m].data);
    herald_str text;
    if (n < 0) return HERALD_E_FAILED;
    text.data = line;
    text.size = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    host->log(host->ctx, HERALD_LOG_WARN, text);
  }
  return HERALD_OK;
}

/* Designated initializers: fields a later 1.x SDK appends are zero (absent), so this still
 * compiles warning-free against newer headers. */
static const herald_driver_descriptor kDescriptor = {
    .struct_size = sizeof(herald_driver_descriptor),
    .name = "c-hello",
    .version = "0.1.0",
    .description = "Packaging test: a driver in C",
    .create = hello_create,
    .destroy = hello_destroy,
    .publish = hello_publish,
};

/* The two exports, from the descriptor (driver.h declares their prototypes). */
HERALD_DEFINE_DRIVER(kDescriptor)
