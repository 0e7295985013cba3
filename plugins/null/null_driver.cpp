// The `null` driver (Spiral's NullBroadcast): accepts every publish and does nothing.
#include <herald/driver.hpp>

namespace {

class NullBroadcast final : public herald::sdk::Broadcast {
 public:
  NullBroadcast(const herald::sdk::Host&, const herald::sdk::Config&) {}
  void publish(herald::sdk::Texts, herald::sdk::Texts) override {}
};

}  // namespace

HERALD_DRIVER(NullBroadcast, "null", "1.0.0", "Discards every message (for tests and disabling)")
