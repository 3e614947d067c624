#include "spare_sockets.h"

#include <sys/socket.h>

#include <utility>

#include "monotonic_clock.h"
#include "native_error.h"

namespace pinlatch {

UdpSocket SpareSockets::Take(int family) {
  (family == AF_INET6 ? want_v6_ : want_v4_).store(true, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<UdpSocket>& pool = Pool(family);
    if (!pool.empty()) {
      UdpSocket socket = std::move(pool.back());
      pool.pop_back();
      count_.fetch_sub(1, std::memory_order_relaxed);
      return socket;
    }
  }
  return UdpSocket::Open(family, buffers_);
}

void SpareSockets::TopUp() {
  const bool v4 = want_v4_.load(std::memory_order_relaxed);
  const bool v6 = want_v6_.load(std::memory_order_relaxed);
  const size_t full = (v4 ? kPerFamily : 0) + (v6 ? kPerFamily : 0);
  if (count_.load(std::memory_order_relaxed) >= full) return;
  const int64_t now_ms = MonotonicMs();
  if (now_ms < retry_at_ms_) return;
  size_t budget = kPerTopUp;
  for (const int family : {AF_INET, AF_INET6}) {
    if (!(family == AF_INET6 ? v6 : v4) || budget == 0) continue;
    size_t missing;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      missing = kPerFamily - Pool(family).size();
    }
    if (missing > budget) missing = budget;
    // Made outside the mutex: a taker never waits for these system calls.
    std::vector<UdpSocket> made;
    made.reserve(missing);
    bool failed = false;
    try {
      while (made.size() < missing) made.push_back(UdpSocket::Open(family, buffers_));
    } catch (const NativeError&) {
      // Out of descriptors or memory: keep what was made; takers make their own meanwhile.
      failed = true;
    }
    budget -= made.size();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (closed_) return;
      std::vector<UdpSocket>& pool = Pool(family);
      for (UdpSocket& socket : made) {
        // Only this thread adds, so the pool cannot have filled up meanwhile; the check keeps the bound local.
        if (pool.size() >= kPerFamily) break;
        pool.push_back(std::move(socket));
        count_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    if (failed) {
      retry_at_ms_ = now_ms + kRetryAfterFailureMs;
      return;
    }
  }
}

void SpareSockets::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
  v4_.clear();
  v6_.clear();
  count_.store(0, std::memory_order_relaxed);
}

}  // namespace pinlatch
