// Format sniffing and header parsing (probe_bytes / probe_file): the size of an image is known and
// checked against DecodeLimits before any decoder allocates pixel memory. See image.h.
#include "image_internal.h"

#include <cstring>

#include "imp/core/error.h"

namespace imp::image {

const char* format_name(Format f) {
  switch (f) {
    case Format::jpeg: return "JPEG";
    case Format::png: return "PNG";
    case Format::bmp: return "BMP";
    case Format::webp: return "WebP";
  }
  return "?";
}

namespace detail {
namespace {

uint32_t be32(const uint8_t* p) { return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3]; }
uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t le32(const uint8_t* p) { return (uint32_t{p[3]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[1]} << 8) | p[0]; }
uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>((p[1] << 8) | p[0]); }
uint32_t le24(const uint8_t* p) { return (uint32_t{p[2]} << 16) | (uint32_t{p[1]} << 8) | p[0]; }

bool starts_with(const uint8_t* d, size_t n, const char* magic, size_t m) {
  return n >= m && std::memcmp(d, magic, m) == 0;
}

// "3c 68 74 6d" of the first bytes, or a quoted prefix when they are printable text.
std::string describe_start(const uint8_t* d, size_t n) {
  const size_t k = n < 16 ? n : 16;
  bool text = k > 0;
  for (size_t i = 0; i < k; ++i)
    if (!(d[i] == '\n' || d[i] == '\r' || d[i] == '\t' || (d[i] >= 0x20 && d[i] < 0x7f))) text = false;
  std::string out;
  if (text) {
    out = "text \"";
    for (size_t i = 0; i < k; ++i) out += (d[i] == '\n' || d[i] == '\r' || d[i] == '\t') ? ' ' : static_cast<char>(d[i]);
    return out + (n > k ? "...\"" : "\"");
  }
  static const char* hex = "0123456789abcdef";
  for (size_t i = 0; i < k; ++i) {
    if (i) out += ' ';
    out += hex[d[i] >> 4];
    out += hex[d[i] & 15];
  }
  return "bytes " + out;
}

const char* kSupported = "imp decodes JPEG, PNG, BMP and WebP";

Header parse_png(const uint8_t* d, size_t n, const std::string& origin) {
  // signature(8) + length(4) + "IHDR"(4) + 13 bytes of IHDR
  IMP_CHECK(n >= 33, origin, ": truncated PNG: the file is ", n, " bytes, too short for the IHDR header",
            "\nhint: the file was probably cut short (an interrupted download); re-fetch it");
  IMP_CHECK(be32(d + 8) == 13 && std::memcmp(d + 12, "IHDR", 4) == 0, origin,
            ": corrupt PNG: the first chunk is not a 13-byte IHDR");
  Header h;
  h.format = Format::png;
  const uint32_t w = be32(d + 16), ht = be32(d + 20);
  h.png_bit_depth = d[24];
  h.png_color_type = d[25];
  IMP_CHECK(w > 0 && ht > 0 && w <= 0x7fffffffu && ht <= 0x7fffffffu, origin, ": corrupt PNG: size ", w, "x", ht,
            " (each side must be 1..2^31-1)");
  const int bd = h.png_bit_depth, ct = h.png_color_type;
  const bool ok = (ct == 0 && (bd == 1 || bd == 2 || bd == 4 || bd == 8 || bd == 16)) ||
                  (ct == 3 && (bd == 1 || bd == 2 || bd == 4 || bd == 8)) ||
                  ((ct == 2 || ct == 4 || ct == 6) && (bd == 8 || bd == 16));
  IMP_CHECK(ok, origin, ": corrupt PNG: invalid bit depth ", bd, " for colour type ", ct);
  h.width = static_cast<int64_t>(w);
  h.height = static_cast<int64_t>(ht);
  return h;
}

Header parse_jpeg(const uint8_t* d, size_t n, const std::string& origin) {
  const std::string trunc_hint = "\nhint: the file was probably cut short (an interrupted download); re-fetch it";
  size_t p = 2;
  for (;;) {
    // Like libjpeg (and Pillow), skip garbage before a marker, then any 0xFF fill bytes.
    while (p < n && d[p] != 0xFF) ++p;
    while (p < n && d[p] == 0xFF) ++p;
    IMP_CHECK(p < n, origin, ": truncated JPEG: the file ends before the frame header (SOF)", trunc_hint);
    const uint8_t m = d[p++];
    if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) continue;  // no length field
    IMP_CHECK(m != 0xD9 && m != 0xDA, origin, ": corrupt JPEG: ", m == 0xD9 ? "end of image" : "start of scan",
              " before the frame header (SOF)");
    IMP_CHECK(p + 2 <= n, origin, ": truncated JPEG: the file ends inside a marker segment", trunc_hint);
    const size_t len = be16(d + p);
    IMP_CHECK(len >= 2, origin, ": corrupt JPEG: marker segment length ", len, " < 2");
    const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof) {
      IMP_CHECK(len >= 8 && p + 8 <= n, origin, ": truncated JPEG: the frame header (SOF) is cut short", trunc_hint);
      Header h;
      h.format = Format::jpeg;
      h.jpeg_precision = d[p + 2];
      h.height = be16(d + p + 3);
      h.width = be16(d + p + 5);
      h.jpeg_components = d[p + 7];
      IMP_CHECK(h.width > 0 && h.height > 0, origin, ": unsupported JPEG: the frame header gives size ", h.width, "x",
                h.height, " (a zero height defined later by a DNL marker is not supported)");
      IMP_CHECK(h.jpeg_precision == 8, origin, ": unsupported JPEG: ", int{h.jpeg_precision},
                "-bit samples (only 8-bit JPEGs can be decoded, as with Pillow)");
      IMP_CHECK(h.jpeg_components == 1 || h.jpeg_components == 3 || h.jpeg_components == 4, origin,
                ": unsupported JPEG: ", int{h.jpeg_components},
                " colour components (1 = grayscale, 3 = YCbCr/RGB and 4 = CMYK/YCCK are supported)");
      return h;
    }
    p += len;
  }
}

Header parse_bmp(const uint8_t* d, size_t n, const std::string& origin) {
  IMP_CHECK(n >= 26, origin, ": truncated BMP: ", n, " bytes, too short for the headers");
  const uint32_t dib = le32(d + 14);
  Header h;
  h.format = Format::bmp;
  int64_t w = 0, ht = 0;
  if (dib == 12) {  // OS/2 BITMAPCOREHEADER
    w = le16(d + 18);
    ht = le16(d + 20);
    h.bmp_bpp = le16(d + 24);
  } else {
    IMP_CHECK(dib >= 16 && dib <= 1024, origin, ": corrupt BMP: DIB header size ", dib);
    IMP_CHECK(n >= 30, origin, ": truncated BMP: ", n, " bytes, too short for the headers");
    w = static_cast<int32_t>(le32(d + 18));
    ht = static_cast<int32_t>(le32(d + 22));
    h.bmp_bpp = le16(d + 28);
    if (ht < 0) ht = -ht;  // top-down rows
    if (dib >= 40 && n >= 34) h.bmp_compression = le32(d + 30);
    if (h.bmp_compression == 3 && dib >= 40 && n >= 66) {  // BI_BITFIELDS: masks after the 40-byte header
      h.bmp_masks[0] = le32(d + 54);
      h.bmp_masks[1] = le32(d + 58);
      h.bmp_masks[2] = le32(d + 62);
    }
  }
  IMP_CHECK(w > 0 && ht > 0, origin, ": corrupt BMP: size ", w, "x", ht);
  const int bpp = h.bmp_bpp;
  IMP_CHECK(bpp == 1 || bpp == 4 || bpp == 8 || bpp == 24 || bpp == 32, origin, ": unsupported BMP: ", bpp,
            " bits per pixel (imp reads 1, 4, 8, 24 and 32; Pillow and OpenCV expand 16-bit pixels differently)",
            "\nhint: convert the file to PNG");
  IMP_CHECK(h.bmp_compression <= 3, origin, ": unsupported BMP: compression ", h.bmp_compression,
            " (only uncompressed, RLE4, RLE8 and BI_BITFIELDS)");
  if (h.bmp_compression == 3)
    IMP_CHECK(bpp == 32 && h.bmp_masks[0] == 0xFF0000u && h.bmp_masks[1] == 0xFF00u && h.bmp_masks[2] == 0xFFu, origin,
              ": unsupported BMP: BI_BITFIELDS with masks other than 32-bit BGR(A)", "\nhint: convert the file to PNG");
  h.width = w;
  h.height = ht;
  return h;
}

Header parse_webp(const uint8_t* d, size_t n, const std::string& origin) {
  IMP_CHECK(n >= 30, origin, ": truncated WebP: ", n, " bytes, too short for the headers");
  const uint8_t* c = d + 12;
  const uint32_t csize = le32(c + 4);
  const uint8_t* pl = c + 8;
  const size_t avail = n - 20;
  Header h;
  h.format = Format::webp;
  if (std::memcmp(c, "VP8 ", 4) == 0) {
    IMP_CHECK(csize >= 10 && avail >= 10, origin, ": truncated WebP: the VP8 frame header is cut short");
    IMP_CHECK(pl[3] == 0x9d && pl[4] == 0x01 && pl[5] == 0x2a, origin, ": corrupt WebP: bad VP8 start code");
    h.width = le16(pl + 6) & 0x3fff;
    h.height = le16(pl + 8) & 0x3fff;
  } else if (std::memcmp(c, "VP8L", 4) == 0) {
    IMP_CHECK(csize >= 5 && avail >= 5, origin, ": truncated WebP: the VP8L header is cut short");
    IMP_CHECK(pl[0] == 0x2f, origin, ": corrupt WebP: bad VP8L signature");
    const uint32_t bits = le32(pl + 1);
    h.width = (bits & 0x3fff) + 1;
    h.height = ((bits >> 14) & 0x3fff) + 1;
  } else if (std::memcmp(c, "VP8X", 4) == 0) {
    IMP_CHECK(csize >= 10 && avail >= 10, origin, ": truncated WebP: the VP8X header is cut short");
    IMP_CHECK((pl[0] & 0x02) == 0, origin, ": unsupported WebP: animated (imp decodes still images only)",
              "\nhint: extract the first frame to PNG");
    h.width = int64_t{le24(pl + 4)} + 1;
    h.height = int64_t{le24(pl + 7)} + 1;
  } else {
    IMP_FAIL(origin, ": corrupt WebP: unknown first chunk \"", std::string(reinterpret_cast<const char*>(c), 4), "\"");
  }
  IMP_CHECK(h.width > 0 && h.height > 0, origin, ": corrupt WebP: size ", h.width, "x", h.height);
  return h;
}

}  // namespace

Header parse_header(const uint8_t* d, size_t n, const std::string& origin, const DecodeLimits& limits) {
  IMP_CHECK(n > 0, origin, ": empty file (0 bytes), not an image",
            "\nhint: the download or copy of this file failed; re-fetch it or drop the sample");
  IMP_CHECK(limits.max_bytes <= 0 || static_cast<uint64_t>(n) <= static_cast<uint64_t>(limits.max_bytes), origin,
            ": the file is ", n, " bytes, over the limit of ", limits.max_bytes, " bytes (DecodeLimits::max_bytes)");
  Header h;
  if (starts_with(d, n, "\x89PNG\r\n\x1a\n", 8)) {
    h = parse_png(d, n, origin);
  } else if (starts_with(d, n, "\xFF\xD8\xFF", 3)) {
    h = parse_jpeg(d, n, origin);
  } else if (starts_with(d, n, "BM", 2) && n >= 14) {
    h = parse_bmp(d, n, origin);
  } else if (n >= 12 && starts_with(d, n, "RIFF", 4) && std::memcmp(d + 8, "WEBP", 4) == 0) {
    h = parse_webp(d, n, origin);
  } else if (starts_with(d, n, "GIF87a", 6) || starts_with(d, n, "GIF89a", 6)) {
    IMP_FAIL(origin, ": unsupported format GIF (", kSupported, ")", "\nhint: convert the file to PNG");
  } else if (starts_with(d, n, "II*\0", 4) || starts_with(d, n, "MM\0*", 4)) {
    IMP_FAIL(origin, ": unsupported format TIFF (", kSupported, ")", "\nhint: convert the file to PNG");
  } else {
    IMP_FAIL(origin, ": not an image: unrecognised content (starts with ", describe_start(d, n), "; ", kSupported,
             ", recognised by their content, not by the file name)");
  }
  const int64_t pixels = h.width * h.height;  // both sides < 2^31, so no overflow
  IMP_CHECK(limits.max_pixels <= 0 || pixels <= limits.max_pixels, origin, ": ", format_name(h.format), " of ",
            h.width, "x", h.height, " = ", pixels, " pixels is over the limit of ", limits.max_pixels,
            " pixels (DecodeLimits::max_pixels; Pillow's MAX_IMAGE_PIXELS), refused as a possible decompression bomb");
  // Images are indexed with int and sized w*h*3 in memory; keep every later product far from overflow.
  IMP_CHECK(h.width <= (int64_t{1} << 30) && h.height <= (int64_t{1} << 30) && pixels <= (int64_t{1} << 40), origin,
            ": ", format_name(h.format), " of ", h.width, "x", h.height, " is too large");
  return h;
}

}  // namespace detail

ImageInfo probe_bytes(const uint8_t* data, size_t size, const std::string& origin, const DecodeLimits& limits) {
  const detail::Header h = detail::parse_header(data, size, origin, limits);
  return ImageInfo{h.format, static_cast<int>(h.width), static_cast<int>(h.height)};
}

ImageInfo probe_file(const std::string& path, const DecodeLimits& limits) {
  const std::vector<uint8_t> bytes = detail::read_file(path, limits);
  return probe_bytes(bytes.data(), bytes.size(), path, limits);
}

}  // namespace imp::image
