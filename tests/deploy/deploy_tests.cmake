# tests/deploy/: the tests of deploy/. Included by deploy/CMakeLists.txt
# through a call deferred to the end of the top-level CMakeLists.txt, once
# tests/ has defined tessera_test() and enabled testing; paths are
# therefore relative to this file (CMAKE_CURRENT_LIST_DIR).
#
# tessera_deploy_test (label unit): the example configurations parse with
# the programs' own loaders and agree with the systemd units.
set(_deploy_test_deps tessera_coordinator)
if(TARGET tessera_agent)
  list(APPEND _deploy_test_deps tessera_agent)
endif()
tessera_test(tessera_deploy_test
  SOURCES "${CMAKE_CURRENT_LIST_DIR}/example_config_test.cc"
  DEPS ${_deploy_test_deps}
  LABELS unit)
target_compile_definitions(tessera_deploy_test PRIVATE
  TESSERA_DEPLOY_DIR="${PROJECT_SOURCE_DIR}/deploy"
  $<$<TARGET_EXISTS:tessera_agent>:TESSERA_DEPLOY_TEST_AGENT>)
set_target_properties(tessera_deploy_test PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/tests/deploy")

# deploy.packages (label deploy): builds the three .deb packages from this
# build tree, installs them with dpkg, checks files, owners and modes, runs
# the programs, purges them and checks that no secret is left. Needs root;
# skipped (exit 77) otherwise. Only for a normal build with libtorch: the
# agent package needs tessera-agent, and sanitizer builds are not shipped.
if(TARGET tessera-agent AND TARGET tessera-coordinator AND TARGET tessera
   AND NOT TESSERA_SANITIZE)
  add_test(NAME deploy.packages
    COMMAND "${CMAKE_CURRENT_LIST_DIR}/package_install_test.sh"
            "${PROJECT_BINARY_DIR}" "${PROJECT_SOURCE_DIR}" "${PROJECT_VERSION}")
  set_tests_properties(deploy.packages PROPERTIES
    LABELS deploy
    SKIP_RETURN_CODE 77
    TIMEOUT 300
    RESOURCE_LOCK dpkg)
endif()

# deploy.helm_chart (label deploy): renders the coordinator's Helm chart
# with Go's text/template and sprig (as Helm does; helm itself is not in
# Debian 12) and checks the manifests. Skipped (exit 77) without Debian's
# golang-go, golang-github-masterminds-sprig-dev, golang-gopkg-yaml.v3-dev.
add_test(NAME deploy.helm_chart
  COMMAND "${CMAKE_CURRENT_LIST_DIR}/helm_chart_test.sh"
          "${PROJECT_SOURCE_DIR}" "${PROJECT_BINARY_DIR}/tests/deploy/helm")
set_tests_properties(deploy.helm_chart PROPERTIES
  LABELS deploy
  SKIP_RETURN_CODE 77
  TIMEOUT 120)
