// JPEG decoding with libjpeg(-turbo) directly, the same library and settings Pillow uses (default
// colour-space guess, islow IDCT, fancy upsampling), because OpenCV's JPEG reader (a) converts CMYK
// to BGR with its own formula and never returns the raw CMYK samples Pillow's conversion needs, and
// (b) silently returns grey rows for a truncated file. Pillow's rule for truncation is reproduced:
// the file is rejected if the data runs out before the last scanline is decoded, and accepted if only
// the bytes after it (e.g. the end-of-image marker) are missing.
#include <algorithm>
#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE and size_t declared first

#include <jerror.h>
#include <jpeglib.h>

#include "image_internal.h"
#include "imp/core/error.h"

namespace imp::image::detail {
namespace {

// Real JPEGs have at most a few dozen scans; a crafted progressive file with thousands of tiny scans
// only serves to burn CPU (libjpeg-turbo's documented mitigation is a scan limit like this one).
constexpr int kMaxScans = 1000;

struct Context {
  jpeg_error_mgr err{};
  jpeg_source_mgr src{};
  jpeg_progress_mgr progress{};
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {0};
  bool finishing = false;  // all scanlines are read; running out of data is now harmless
  bool truncated = false;
  bool too_many_scans = false;
};

Context* ctx_of(j_common_ptr cinfo) { return static_cast<Context*>(cinfo->client_data); }

void on_error(j_common_ptr cinfo) {
  Context* c = ctx_of(cinfo);
  (*cinfo->err->format_message)(cinfo, c->message);
  std::longjmp(c->jump, 1);
}
void on_message(j_common_ptr, int) {}  // warnings (corrupt data that libjpeg works around) are ignored, as in Pillow
void on_output(j_common_ptr) {}

void src_init(j_decompress_ptr) {}
void src_term(j_decompress_ptr) {}

boolean src_fill(j_decompress_ptr cinfo) {
  Context* c = ctx_of(reinterpret_cast<j_common_ptr>(cinfo));
  if (!c->finishing) {  // Pillow: "image file is truncated"
    c->truncated = true;
    std::longjmp(c->jump, 1);
  }
  static const JOCTET kEoi[2] = {0xFF, JPEG_EOI};  // libjpeg's convention: pretend the file ended properly
  cinfo->src->next_input_byte = kEoi;
  cinfo->src->bytes_in_buffer = 2;
  return TRUE;
}

void src_skip(j_decompress_ptr cinfo, long num_bytes) {
  if (num_bytes <= 0) return;
  jpeg_source_mgr* s = cinfo->src;
  while (static_cast<size_t>(num_bytes) > s->bytes_in_buffer) {
    num_bytes -= static_cast<long>(s->bytes_in_buffer);
    (void)src_fill(cinfo);
  }
  s->next_input_byte += num_bytes;
  s->bytes_in_buffer -= static_cast<size_t>(num_bytes);
}

void on_progress(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxScans) {
    Context* c = ctx_of(cinfo);
    c->too_many_scans = true;
    std::longjmp(c->jump, 1);
  }
}

// Pillow's MULDIV255(a, b): a * b / 255 rounded, computed as ((t >> 8) + t) >> 8 with t = a * b + 128.
inline int muldiv255(int a, int b) {
  const int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

// Pillow reads every 4-component JPEG as "CMYK;I" (Adobe's inverted CMYK: each byte x becomes 255 - x)
// and converts CMYK -> RGB with R = clip(nk - MULDIV255(C, nk)), nk = 255 - K. libjpeg has already
// turned YCCK into (inverted) CMYK.
inline uint8_t cmyk_channel(uint8_t raw_c, uint8_t raw_k) {
  const int c = 255 - raw_c, nk = 255 - (255 - raw_k);
  const int v = nk - muldiv255(c, nk);
  return static_cast<uint8_t>(v <= 0 ? 0 : v < 256 ? v : 255);
}

}  // namespace

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& origin, const Header& h) {
  // Everything with a destructor lives in this frame, which longjmp returns to (never skips).
  Image out;
  std::vector<uint8_t> row;
  Context ctx;
  jpeg_decompress_struct cinfo{};
  struct Destroy {
    jpeg_decompress_struct* p;
    volatile bool live = false;
    ~Destroy() {
      if (live) jpeg_destroy_decompress(p);
    }
  } destroy{&cinfo};

  cinfo.err = jpeg_std_error(&ctx.err);
  ctx.err.error_exit = on_error;
  ctx.err.emit_message = on_message;
  ctx.err.output_message = on_output;
  cinfo.client_data = &ctx;
  const std::string trunc_hint = "\nhint: the file was cut short (an interrupted download or copy); re-fetch it";

  if (setjmp(ctx.jump) != 0) {
    if (ctx.truncated)
      IMP_FAIL(origin, ": truncated JPEG: the data ends before the last row of the image (Pillow: \"image file is ",
               "truncated\")", trunc_hint);
    if (ctx.too_many_scans) IMP_FAIL(origin, ": corrupt JPEG: more than ", kMaxScans, " progressive scans");
    IMP_FAIL(origin, ": corrupt JPEG: ", ctx.message);
  }

  jpeg_create_decompress(&cinfo);
  destroy.live = true;
  ctx.src.init_source = src_init;
  ctx.src.fill_input_buffer = src_fill;
  ctx.src.skip_input_data = src_skip;
  ctx.src.resync_to_restart = jpeg_resync_to_restart;
  ctx.src.term_source = src_term;
  ctx.src.next_input_byte = data;
  ctx.src.bytes_in_buffer = size;
  cinfo.src = &ctx.src;
  ctx.progress.progress_monitor = on_progress;
  cinfo.progress = &ctx.progress;

  int rc;
  do {
    rc = jpeg_read_header(&cinfo, FALSE);
  } while (rc == JPEG_HEADER_TABLES_ONLY);
  IMP_CHECK(rc == JPEG_HEADER_OK, origin, ": corrupt JPEG: no image in the data stream");
  IMP_CHECK(cinfo.image_width == h.width && cinfo.image_height == h.height &&
                cinfo.num_components == h.jpeg_components,
            origin, ": corrupt JPEG: libjpeg reads a ", cinfo.image_width, "x", cinfo.image_height, "x",
            cinfo.num_components, " image where the first frame header says ", h.width, "x", h.height, "x",
            h.jpeg_components);
  const int comps = cinfo.num_components;
  cinfo.out_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
  jpeg_start_decompress(&cinfo);
  IMP_CHECK(static_cast<int>(cinfo.output_components) == comps && cinfo.output_width == cinfo.image_width &&
                cinfo.output_height == cinfo.image_height,
            origin, ": corrupt JPEG: unexpected decoder output ", cinfo.output_width, "x", cinfo.output_height, "x",
            cinfo.output_components);

  out.width = static_cast<int>(cinfo.output_width);
  out.height = static_cast<int>(cinfo.output_height);
  out.rgb.resize(static_cast<size_t>(out.width) * out.height * 3);
  // Up to kBatch rows per call (libjpeg-turbo emits a whole iMCU row at a time anyway).
  constexpr int kBatch = 16;
  const size_t out_row = static_cast<size_t>(out.width) * 3, raw_row = static_cast<size_t>(out.width) * comps;
  if (comps != 3) row.resize(raw_row * kBatch);
  while (cinfo.output_scanline < cinfo.output_height) {
    const size_t y0 = cinfo.output_scanline;
    const int want = static_cast<int>(std::min<size_t>(kBatch, cinfo.output_height - y0));
    JSAMPROW rows[kBatch];
    for (int i = 0; i < want; ++i) rows[i] = comps == 3 ? out.rgb.data() + (y0 + i) * out_row : row.data() + i * raw_row;
    const int got = static_cast<int>(jpeg_read_scanlines(&cinfo, rows, static_cast<JDIMENSION>(want)));
    IMP_CHECK(got > 0, origin, ": corrupt JPEG: a scanline could not be read");
    for (int i = 0; i < got && comps != 3; ++i) {
      const uint8_t* in = row.data() + i * raw_row;
      uint8_t* o = out.rgb.data() + (y0 + i) * out_row;
      if (comps == 1) {
        for (int x = 0; x < out.width; ++x) o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = in[x];
      } else {
        for (int x = 0; x < out.width; ++x)
          for (int c = 0; c < 3; ++c) o[3 * x + c] = cmyk_channel(in[4 * x + c], in[4 * x + 3]);
      }
    }
  }
  ctx.finishing = true;
  jpeg_finish_decompress(&cinfo);
  return out;
}

}  // namespace imp::image::detail
