// Spiral's NullBroadcast: accepts every publish and does nothing. Header-only so unit tests
// can use it without loading the plugin.
#pragma once

#include <herald/driver.hpp>

namespace herald::drivers {

class NullBroadcast final : public herald::sdk::Broadcast {
 public:
  NullBroadcast(const herald::sdk::Host&, const herald::sdk::Config&) {}
  void publish(herald::sdk::Texts, herald::sdk::Texts) override {}
};

}  // namespace herald::drivers
