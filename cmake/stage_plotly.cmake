# Build step: copies Plotly from web/node_modules into the staged page, or stops with what to do.
if(NOT EXISTS "${SRC}")
  message(FATAL_ERROR "${SRC} is missing: the page needs Plotly from npm. Run scripts/setup "
                      "(or `npm ci --omit=dev` in web/) and build again.")
endif()
get_filename_component(DST_DIR "${DST}" DIRECTORY)
file(MAKE_DIRECTORY "${DST_DIR}")
file(COPY_FILE "${SRC}" "${DST}" ONLY_IF_DIFFERENT)
