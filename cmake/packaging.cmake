# Staging of the page, install rules and the Debian package (CPack).
#
# Layout under the install prefix (the binary finds each part relative to itself):
#   bin/netsentry
#   lib/netsentry/libnetsentry_torch.so        LSTM + autoencoder module (dlopened when needed)
#   share/netsentry/web/                        the page, with Plotly copied in at build time
#   share/netsentry/models/default/             the default model bundle
#   share/doc/netsentry/                        README, docs, example configuration
#   lib/systemd/system/netsentry.service        the service (runs as user netsentry)
#   <etc>/netsentry/netsentry.toml              the service's configuration; <etc> is /etc for
#                                               the prefix /usr (the .deb), <prefix>/etc otherwise

# --- The page: web/ plus Plotly, staged beside the binary (build/<preset>/web) so nothing reads
# web/node_modules at run time. find_web_dir() looks beside the binary first.
set(NETSENTRY_PLOTLY ${CMAKE_SOURCE_DIR}/web/node_modules/plotly.js-basic-dist-min/plotly-basic.min.js)
file(GLOB NETSENTRY_WEB_SOURCES CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/web/*.html ${CMAKE_SOURCE_DIR}/web/*.js ${CMAKE_SOURCE_DIR}/web/*.css
  ${CMAKE_SOURCE_DIR}/web/*.svg)
set(NETSENTRY_WEB_STAGED)
foreach(src ${NETSENTRY_WEB_SOURCES})
  get_filename_component(name ${src} NAME)
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/web/${name}
    COMMAND ${CMAKE_COMMAND} -E copy_if_different ${src} ${CMAKE_BINARY_DIR}/web/${name}
    DEPENDS ${src} VERBATIM)
  list(APPEND NETSENTRY_WEB_STAGED ${CMAKE_BINARY_DIR}/web/${name})
endforeach()
# Plotly comes from npm (web/package-lock.json; scripts/setup runs `npm ci`). Without it the build
# stops here with what to do, rather than producing a page that cannot draw.
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/web/vendor/plotly-basic.min.js
  COMMAND ${CMAKE_COMMAND} -DSRC=${NETSENTRY_PLOTLY}
          -DDST=${CMAKE_BINARY_DIR}/web/vendor/plotly-basic.min.js
          -P ${CMAKE_SOURCE_DIR}/cmake/stage_plotly.cmake
  DEPENDS ${CMAKE_SOURCE_DIR}/web/package-lock.json ${CMAKE_SOURCE_DIR}/cmake/stage_plotly.cmake
  VERBATIM)
list(APPEND NETSENTRY_WEB_STAGED ${CMAKE_BINARY_DIR}/web/vendor/plotly-basic.min.js)
add_custom_target(web_assets ALL DEPENDS ${NETSENTRY_WEB_STAGED})
add_dependencies(netsentry web_assets)

# --- The service's configuration: the shipped netsentry.toml with the service's output folder.
file(READ ${CMAKE_SOURCE_DIR}/netsentry.toml NETSENTRY_TOML)
string(REPLACE "\nout=\"netsentry-data\"\n" "\nout=\"/var/lib/netsentry\"\n" NETSENTRY_SERVICE_TOML
       "${NETSENTRY_TOML}")
if(NETSENTRY_SERVICE_TOML STREQUAL NETSENTRY_TOML)
  message(FATAL_ERROR "netsentry.toml has no line out=\"netsentry-data\" to point at /var/lib/netsentry")
endif()
file(WRITE ${CMAKE_BINARY_DIR}/packaging/netsentry.toml "${NETSENTRY_SERVICE_TOML}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/netsentry.toml)

# --- Install rules.
install(TARGETS netsentry RUNTIME DESTINATION bin)
if(NETSENTRY_TORCH)
  # torch_module.h looks in <exe dir>/../lib/netsentry/ (not the multiarch libdir).
  install(TARGETS netsentry_torch LIBRARY DESTINATION lib/netsentry)
endif()
install(DIRECTORY ${CMAKE_BINARY_DIR}/web/ DESTINATION share/netsentry/web)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/models/default DESTINATION share/netsentry/models)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/netsentry.toml
        DESTINATION share/doc/netsentry)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION share/doc/netsentry/docs
        FILES_MATCHING PATTERN "*.md")
# The unit and the configuration name the installed paths, so they are written at install time,
# when the prefix is known (cmake --install --prefix, or CPack's /usr).
# The unit is generated into the build folder: CMAKE_CURRENT_BINARY_DIR in an install script is
# the folder `cmake --install` runs from (a source checkout wrote a stale packaging/netsentry.service
# that way), so the build folder is passed in.
install(CODE "set(NETSENTRY_UNIT_TEMPLATE \"${CMAKE_SOURCE_DIR}/packaging/netsentry.service.in\")
set(NETSENTRY_UNIT_FILE \"${CMAKE_BINARY_DIR}/packaging/netsentry.service\")
set(NETSENTRY_SERVICE_TOML \"${CMAKE_BINARY_DIR}/packaging/netsentry.toml\")")
install(CODE [[
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(NETSENTRY_ETC "/etc/netsentry")
  else()
    set(NETSENTRY_ETC "${CMAKE_INSTALL_PREFIX}/etc/netsentry")
  endif()
  set(NETSENTRY_BINDIR "${CMAKE_INSTALL_PREFIX}/bin")
  configure_file("${NETSENTRY_UNIT_TEMPLATE}" "${NETSENTRY_UNIT_FILE}" @ONLY)
  file(INSTALL "${NETSENTRY_UNIT_FILE}" DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
  file(INSTALL "${NETSENTRY_SERVICE_TOML}" DESTINATION "${NETSENTRY_ETC}")
]])

# --- The Debian package: cpack (or cmake --build --target package) in the build folder.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME netsentry)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "netsentry developers")
set(CPACK_PACKAGE_CONTACT "netsentry developers <netsentry@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "network-traffic monitor with machine-learning anomaly detection and a live dashboard")
set(CPACK_PACKAGE_DESCRIPTION
    "netsentry captures packets into bidirectional flows, scores them with an Isolation Forest, a Random Forest, an LSTM and an autoencoder, runs scan, flood and brute-force detectors, raises alerts with their evidence, and serves a live dashboard on http://127.0.0.1:8050. It runs as the unprivileged user netsentry with only CAP_NET_RAW and CAP_NET_ADMIN.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies from the binary and the module (dpkg-shlibdeps); adduser for postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libopenblas0-pthread")
configure_file(${CMAKE_SOURCE_DIR}/packaging/conffiles ${CMAKE_BINARY_DIR}/packaging/conffiles COPYONLY)
foreach(script postinst prerm postrm)
  configure_file(${CMAKE_SOURCE_DIR}/packaging/${script} ${CMAKE_BINARY_DIR}/packaging/${script}
                 COPYONLY FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
                 GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/packaging/conffiles ${CMAKE_BINARY_DIR}/packaging/postinst
    ${CMAKE_BINARY_DIR}/packaging/prerm ${CMAKE_BINARY_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
