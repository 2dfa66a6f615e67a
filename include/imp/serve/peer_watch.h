// Whether the client of an HTTP request has gone away while its answer is being computed. cpp-httplib 0.11
// gives a plain (non-streaming) handler no access to its socket, only the connection's addresses; PeerWatch
// finds the socket among the process's descriptors by its local and remote address and port (a TCP
// connection's unique 4-tuple), then polls it for the peer's FIN or reset. Linux only (/proc/self/fd,
// POLLRDHUP); elsewhere found() is false and closed() never reports. Torch-free, httplib-free.
#pragma once

#include <string>

namespace imp::serve {

class PeerWatch {
 public:
  // Looks the connection up once (a scan of /proc/self/fd). The descriptor stays valid while the handler
  // runs: the server closes it only after the handler returns.
  PeerWatch(const std::string& local_addr, int local_port, const std::string& remote_addr, int remote_port);
  bool found() const { return fd_ >= 0; }
  // True once the peer closed or reset the connection (a half-close counts: HTTP clients do not half-close
  // while waiting for an answer). Never blocks.
  bool closed() const;

 private:
  int fd_ = -1;
};

}  // namespace imp::serve
