# imp_score: torch-free benchmark scorers and submission writers (`imp eval score` / `imp eval convert`).
add_library(imp_score STATIC
  ${CMAKE_CURRENT_LIST_DIR}/py_text.cpp
  ${CMAKE_CURRENT_LIST_DIR}/evalai.cpp
  ${CMAKE_CURRENT_LIST_DIR}/io.cpp
  ${CMAKE_CURRENT_LIST_DIR}/textvqa.cpp
  ${CMAKE_CURRENT_LIST_DIR}/pope.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mme.cpp
  ${CMAKE_CURRENT_LIST_DIR}/sqa.cpp
  ${CMAKE_CURRENT_LIST_DIR}/gqa.cpp
  ${CMAKE_CURRENT_LIST_DIR}/vqa_local.cpp
  ${CMAKE_CURRENT_LIST_DIR}/submissions.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mmbench.cpp
)
target_link_libraries(imp_score PUBLIC imp_format PRIVATE imp_text_deps imp_warnings)
target_link_libraries(imp_lib PUBLIC imp_score)
