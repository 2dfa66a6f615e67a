# The serve area: imp_serve_api (torch-free: OpenAI request parsing and response JSON, metrics, the watch on a
# request's client connection; fuzzed and unit-tested alone) and, with cpp-httplib, imp_serve (the HTTP server and
# chat page) plus the serve/chat commands in imp_lib. The generation engine behind it is eval/chat_engine.cpp.
add_library(imp_serve_api STATIC
  ${CMAKE_CURRENT_LIST_DIR}/openai.cpp
  ${CMAKE_CURRENT_LIST_DIR}/metrics.cpp
  ${CMAKE_CURRENT_LIST_DIR}/peer_watch.cpp
)
target_link_libraries(imp_serve_api PUBLIC imp_format PRIVATE imp_warnings)
if(IMP_WITH_OPENCV)
  target_link_libraries(imp_serve_api PRIVATE imp_image)
  target_compile_definitions(imp_serve_api PRIVATE IMP_WITH_OPENCV=1)
endif()
if(IMP_WITH_SERVE)
  add_library(imp_serve STATIC
    ${CMAKE_CURRENT_LIST_DIR}/server.cpp
    ${CMAKE_CURRENT_LIST_DIR}/chat_page.cpp
  )
  target_link_libraries(imp_serve PUBLIC imp_serve_api PRIVATE imp_httplib imp_warnings)
  target_sources(imp_lib PRIVATE ${PROJECT_SOURCE_DIR}/src/cli/serve_commands.cpp)
  target_link_libraries(imp_lib PUBLIC imp_serve)
endif()
