// Defined out of line on purpose: see direct_broadcast.hpp. Not `final`, and not visible to
// publish_bench.cpp, so every call there is a genuine virtual call through the vtable, exactly
// like the call into DriverInstance on the ABI side.
#include "direct_broadcast.hpp"

namespace herald::bench {
namespace {

// The null driver's behaviour (plugins/null/null_driver.cpp): accept and do nothing.
class DirectNullBroadcast : public Broadcast {
 public:
  using Broadcast::publish;
  void publish(Texts, Texts) override {}
};

}  // namespace

__attribute__((noinline)) Broadcast& direct_null_broadcast() {
  static DirectNullBroadcast instance;
  return instance;
}

std::shared_ptr<Broadcast> make_direct_null_broadcast() {
  return std::make_shared<DirectNullBroadcast>();
}

}  // namespace herald::bench
