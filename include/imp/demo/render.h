// Draws a demo scene with OpenCV (only built with IMP_WITH_OPENCV). Filled shapes without
// anti-aliasing and noise from the demo RNG, so the pixels depend only on the scene.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "imp/demo/scene.h"

namespace imp::demo {

// RGB pixels, row-major [size][size][3].
std::vector<uint8_t> render_scene(const Scene& scene, int size);
// Renders and writes a PNG (atomically). Throws imp::Error(io) when the file cannot be written.
void write_scene_png(const Scene& scene, int size, const std::string& path);

}  // namespace imp::demo
