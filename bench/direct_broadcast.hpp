// The in-process reference for the publish benchmarks: a herald::Broadcast that does exactly
// what the `null` plugin's publish does (nothing), compiled in a separate translation unit so
// the benchmark cannot see its dynamic type.
#pragma once

#include <memory>

#include "broadcast/broadcast.hpp"

namespace herald::bench {

// One process-wide instance, returned through an opaque call (defined in direct_broadcast.cpp).
Broadcast& direct_null_broadcast();

// A fresh heap instance owned by a shared_ptr (make_shared), as a DriverFactory would return.
std::shared_ptr<Broadcast> make_direct_null_broadcast();

}  // namespace herald::bench
