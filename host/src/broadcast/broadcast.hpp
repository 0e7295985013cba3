// The in-process publishing API (Spiral's BroadcastInterface and GuardInterface).
#pragma once

#include <concepts>
#include <forward_list>
#include <initializer_list>
#include <optional>
#include <ranges>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "auth/auth_request.hpp"
#include "auth/authorization_status.hpp"

namespace herald {

using Texts = std::span<const std::string_view>;

template <class T>
concept StringLike = std::convertible_to<const T&, std::string_view>;

template <class T>
concept Streamable = requires(std::ostream& os, const T& value) {
  os << value;
};

template <class T>
concept TextLike = StringLike<T> || Streamable<T>;

template <class T>
concept TextRange = std::ranges::input_range<const T> && !StringLike<T> &&
                    TextLike<std::ranges::range_value_t<const T>>;

// Spiral's toArray/formatTopics: one string-like value, anything streamable (Spiral's
// \Stringable), or a range of either, as a list of views. No allocation for one string-like
// value; streamed values are owned by the list.
class TextList {
 public:
  template <class T>
  requires TextLike<T> || TextRange<T>
  explicit TextList(const T& value) {
    if constexpr (TextRange<T>) {
      // A range yielding temporaries (e.g. views::transform) must not leave dangling views.
      constexpr bool kStable = std::is_lvalue_reference_v<std::ranges::range_reference_t<const T>>;
      for (auto&& item : value) {
        if constexpr (kStable)
          add(item);
        else
          add_owned(item);
      }
    } else {
      add(value);
    }
  }
  explicit TextList(std::initializer_list<std::string_view> values) {
    for (std::string_view v : values) push(v);
  }
  TextList(const TextList&) = delete;
  TextList& operator=(const TextList&) = delete;

  Texts views() const noexcept {
    return heap_.empty() ? Texts(inline_, size_) : Texts(heap_.data(), heap_.size());
  }

 private:
  template <class T>
  void add(const T& item) {
    if constexpr (StringLike<T>) {
      push(std::string_view(item));
    } else {
      std::ostringstream out;
      out << item;
      owned_.push_front(std::move(out).str());
      push(owned_.front());
    }
  }
  template <class T>
  void add_owned(const T& item) {
    if constexpr (StringLike<T>) {
      owned_.emplace_front(std::string_view(item));
      push(owned_.front());
    } else {
      add(item);  // streamed values are owned anyway
    }
  }
  void push(std::string_view v) {
    if (heap_.empty() && size_ < kInline) {
      inline_[size_++] = v;
      return;
    }
    if (heap_.empty()) heap_.assign(inline_, inline_ + size_);
    heap_.push_back(v);
  }

  static constexpr size_t kInline = 2;
  std::string_view inline_[kInline];
  size_t size_ = 0;
  std::vector<std::string_view> heap_;
  std::forward_list<std::string> owned_;  // stable addresses for the views
};

class Guard;

// A connection (Spiral's BroadcastInterface). publish() throws DriverException when the
// driver fails; it may be called from many threads at once.
class Broadcast {
 public:
  virtual ~Broadcast() = default;

  // Every message to every topic; `topics` must not be empty.
  virtual void publish(Texts topics, Texts messages) = 0;

  // Convenience overloads: a topic or list of topics, a message or list of messages.
  template <class T, class M>
  requires(TextLike<T> || TextRange<T>) &&
      (TextLike<M> || TextRange<M>)void publish(const T& topics, const M& messages) {
    TextList t(topics), m(messages);
    publish(t.views(), m.views());
  }
  template <class M>
  void publish(std::initializer_list<std::string_view> topics, const M& messages) {
    TextList t(topics), m(messages);
    publish(t.views(), m.views());
  }

  // The connection as a guard (Spiral: `instanceof GuardInterface`), or nullptr.
  virtual Guard* guard() noexcept { return nullptr; }

  // Why the connection cannot publish right now, or nullopt when it can (`GET /healthz`).
  virtual std::optional<std::string> health_problem() { return std::nullopt; }

  // The connection's own metrics in the Prometheus text format, whole lines, appended to
  // `GET /metrics`; empty when it has none.
  virtual std::string metrics_text() { return {}; }
};

// Spiral's GuardInterface.
class Guard {
 public:
  virtual ~Guard() = default;
  virtual AuthorizationStatus authorize(const AuthRequest& request) = 0;
};

}  // namespace herald
