// PeerWatch on real loopback connections: it finds the server side of a connection by its addresses (not
// another connection: each sees only its own client's close), data waiting to be read is not a disconnect,
// and a close or a reset of the client is seen.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include "imp/serve/peer_watch.h"

namespace imp::serve {
namespace {

#ifdef __linux__
int port_of(int fd, bool peer) {
  sockaddr_in a{};
  socklen_t len = sizeof(a);
  EXPECT_EQ((peer ? getpeername : getsockname)(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  return ntohs(a.sin_port);
}

// A listener on 127.0.0.1 with `n` accepted connections: client and server descriptors.
struct Loopback {
  int listener = -1;
  std::vector<int> clients, servers;
  explicit Loopback(int n) {
    listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(listener, 8), 0);
    socklen_t len = sizeof(a);
    getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
    for (int i = 0; i < n; ++i) {
      clients.push_back(socket(AF_INET, SOCK_STREAM, 0));
      EXPECT_EQ(connect(clients.back(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
      servers.push_back(accept(listener, nullptr, nullptr));
      EXPECT_GE(servers.back(), 0);
    }
  }
  ~Loopback() {
    for (int fd : clients) if (fd >= 0) close(fd);
    for (int fd : servers) close(fd);
    close(listener);
  }
  PeerWatch watch(int i) const {
    return PeerWatch("127.0.0.1", port_of(servers[i], false), "127.0.0.1", port_of(servers[i], true));
  }
};

bool closed_within(const PeerWatch& w, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!w.closed()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST(PeerWatch, SeesTheClientCloseItsConnectionAndNothingElse) {
  Loopback lo(2);
  const PeerWatch w0 = lo.watch(0), w1 = lo.watch(1);
  ASSERT_TRUE(w0.found());
  ASSERT_TRUE(w1.found());
  EXPECT_FALSE(PeerWatch("127.0.0.1", port_of(lo.servers[0], false), "127.0.0.1", 1).found()) << "wrong remote port";
  // Unread bytes from a live client are not a disconnect.
  ASSERT_EQ(send(lo.clients[0], "GET / HTTP/1.1\r\n", 16, 0), 16);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(w0.closed());
  EXPECT_FALSE(w1.closed());
  // A close (FIN) is seen even with those bytes still unread; the other connection is untouched.
  close(lo.clients[0]);
  lo.clients[0] = -1;
  EXPECT_TRUE(closed_within(w0, std::chrono::seconds(5)));
  EXPECT_FALSE(w1.closed());
  // A reset (SO_LINGER 0) is seen too.
  const linger hard{1, 0};
  setsockopt(lo.clients[1], SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
  close(lo.clients[1]);
  lo.clients[1] = -1;
  EXPECT_TRUE(closed_within(w1, std::chrono::seconds(5)));
}
#endif

TEST(PeerWatch, UnknownConnectionIsNeverClosed) {
  const PeerWatch w("127.0.0.1", 1, "127.0.0.1", 2);
  EXPECT_FALSE(w.found());
  EXPECT_FALSE(w.closed());
  EXPECT_FALSE(PeerWatch("", -1, "", -1).found());
}

}  // namespace
}  // namespace imp::serve
