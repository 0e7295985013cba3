// The `null` driver plugin.
#include <herald/driver.hpp>

#include "null/null_broadcast.hpp"

HERALD_DRIVER(herald::drivers::NullBroadcast, "null", "1.0.0",
              "Discards every message (for tests and disabling broadcasting)")
