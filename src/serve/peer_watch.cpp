// See peer_watch.h. Addresses are printed the way cpp-httplib prints Request::remote_addr/local_addr
// (getnameinfo NI_NUMERICHOST), so IPv4, IPv6 and v4-mapped v6 addresses compare as the server saw them.
#include "imp/serve/peer_watch.h"

#include <cstdlib>

#ifdef __linux__
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#endif

namespace imp::serve {
namespace {

#ifdef __linux__
using Name = int (*)(int, sockaddr*, socklen_t*);

bool address_is(int fd, Name name, const std::string& ip, int port) {
  sockaddr_storage a{};
  socklen_t len = sizeof(a);
  if (name(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return false;
  int p = -1;
  if (a.ss_family == AF_INET) p = ntohs(reinterpret_cast<const sockaddr_in*>(&a)->sin_port);
  else if (a.ss_family == AF_INET6) p = ntohs(reinterpret_cast<const sockaddr_in6*>(&a)->sin6_port);
  if (p != port) return false;
  char host[NI_MAXHOST];
  return getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, host, sizeof(host), nullptr, 0, NI_NUMERICHOST) == 0 &&
         ip == host;
}
#endif

}  // namespace

PeerWatch::PeerWatch(const std::string& local_addr, int local_port, const std::string& remote_addr, int remote_port) {
#ifdef __linux__
  if (local_port <= 0 || remote_port <= 0) return;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    if (address_is(static_cast<int>(fd), getpeername, remote_addr, remote_port) &&
        address_is(static_cast<int>(fd), getsockname, local_addr, local_port)) {
      fd_ = static_cast<int>(fd);
      break;
    }
  }
  closedir(dir);
#else
  (void)local_addr, (void)local_port, (void)remote_addr, (void)remote_port;
#endif
}

bool PeerWatch::closed() const {
#ifdef __linux__
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
#else
  return false;
#endif
}

}  // namespace imp::serve
