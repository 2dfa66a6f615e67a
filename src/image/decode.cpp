// decode_bytes / decode_file: file reading, dispatch on the sniffed format, and the OpenCV path (PNG,
// BMP, WebP) with Pillow's per-mode conversion to RGB. The JPEG path is in jpeg.cpp. See image.h.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "image_internal.h"
#include "imp/core/error.h"

namespace imp::image {
namespace detail {

std::vector<uint8_t> read_file(const std::string& path, const DecodeLimits& limits) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR)
      throw Error(str(path, ": no such file: the image is missing",
                      "\nhint: check the image folder and the sample's image path"),
                  ErrorKind::io);
    throw Error(str(path, ": cannot open the image: ", std::strerror(err)), ErrorKind::io);
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) throw Error(str(path, ": cannot stat the image: ", std::strerror(errno)), ErrorKind::io);
  IMP_CHECK_KIND(!S_ISDIR(st.st_mode), ErrorKind::io, path, ": is a directory, not an image file");
  IMP_CHECK_KIND(S_ISREG(st.st_mode), ErrorKind::io, path, ": is not a regular file (a device, FIFO or socket)");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  IMP_CHECK(limits.max_bytes <= 0 || size <= static_cast<uint64_t>(limits.max_bytes), path, ": the file is ", size,
            " bytes, over the limit of ", limits.max_bytes, " bytes (DecodeLimits::max_bytes)");
  std::vector<uint8_t> out(static_cast<size_t>(size));
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(str(path, ": read failed: ", std::strerror(errno)), ErrorKind::io);
    }
    if (n == 0) break;  // the file shrank while being read
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

namespace {

// Pillow's mode for a PNG and what its convert("RGB") does with the samples OpenCV returns:
//   8-bit: L / LA / P / RGB / RGBA (and 1-, 2-, 4-bit L and P), all expanded to 8 bits by libpng
//   exactly as Pillow's unpackers do (x*255, x*85, x*17; palette lookup); alpha and tRNS are dropped.
//   16-bit gray without alpha: mode "I" (raw "I;16B"); I -> RGB clips, so v >= 255 gives 255.
//   16-bit RGB, RGBA, gray+alpha: modes RGB / RGBA (raw "RGB;16B", "RGBA;16B", "LA;16B"): the high byte.
Image mat_to_rgb(const cv::Mat& m, const Header& h, const std::string& origin) {
  const int ch = m.channels();
  IMP_CHECK(m.dims == 2 && m.cols == h.width && m.rows == h.height && (ch == 1 || ch == 3 || ch == 4) &&
                (m.depth() == CV_8U || m.depth() == CV_16U),
            origin, ": the ", format_name(h.format), " decoder returned a ", m.cols, "x", m.rows, "x", ch,
            " image of depth ", m.depth(), " for a header of ", h.width, "x", h.height);
  Image out;
  out.width = m.cols;
  out.height = m.rows;
  out.rgb.resize(static_cast<size_t>(out.width) * out.height * 3);
  const bool gray16_clip = h.format == Format::png && h.png_color_type == 0 && m.depth() == CV_16U;
  for (int y = 0; y < m.rows; ++y) {
    uint8_t* o = out.rgb.data() + static_cast<size_t>(y) * out.width * 3;
    if (m.depth() == CV_8U) {
      const uint8_t* r = m.ptr<uint8_t>(y);
      if (ch == 1) {
        for (int x = 0; x < m.cols; ++x) o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = r[x];
      } else {
        for (int x = 0; x < m.cols; ++x) {  // BGR(A) -> RGB
          o[3 * x] = r[ch * x + 2];
          o[3 * x + 1] = r[ch * x + 1];
          o[3 * x + 2] = r[ch * x];
        }
      }
    } else {
      const uint16_t* r = m.ptr<uint16_t>(y);
      for (int x = 0; x < m.cols; ++x) {
        for (int c = 0; c < 3; ++c) {
          const uint16_t v = ch == 1 ? r[x] : r[ch * x + (2 - c)];
          o[3 * x + c] = gray16_clip ? static_cast<uint8_t>(v >= 255 ? 255 : v) : static_cast<uint8_t>(v >> 8);
        }
      }
    }
  }
  return out;
}

}  // namespace

Image decode_opencv(const uint8_t* data, size_t size, const std::string& origin, const Header& h) {
  IMP_CHECK(size <= static_cast<size_t>(INT_MAX), origin, ": file too large for the OpenCV decoder");
  cv::Mat m;
  try {
    // const_cast: imdecode only reads the buffer. IMREAD_UNCHANGED keeps the bit depth and alpha and
    // applies no EXIF orientation (Pillow's open() does not rotate either).
    const cv::Mat buf(1, static_cast<int>(size), CV_8U, const_cast<uint8_t*>(data));
    m = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    IMP_FAIL(origin, ": corrupt ", format_name(h.format), ": OpenCV could not decode it: ", e.what());
  }
  IMP_CHECK(!m.empty(), origin, ": corrupt or truncated ", format_name(h.format),
            ": the decoder rejected the data (a cut-short file, bad checksum or invalid compressed data)",
            "\nhint: re-fetch the file; if it opens elsewhere, re-save it as PNG");
  return mat_to_rgb(m, h, origin);
}

}  // namespace detail

Image decode_bytes(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits) {
  IMP_CHECK(data != nullptr || size == 0, origin, ": null data");
  const detail::Header h = detail::parse_header(data, size, origin, limits);
  if (h.format == Format::jpeg) return detail::decode_jpeg(data, size, origin, h);
  return detail::decode_opencv(data, size, origin, h);
}

Image decode_file(const std::string& path, const DecodeLimits& limits) {
  const std::vector<uint8_t> bytes = detail::read_file(path, limits);
  return decode_bytes(bytes.data(), bytes.size(), path, limits);
}

}  // namespace imp::image
