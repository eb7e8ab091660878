#!/usr/bin/env bash
# deploy/docker stays consistent with scripts/setup (the images cannot be built here):
# each Dockerfile installs exactly scripts/setup's APT_PACKAGES (plus the few it needs
# for downloading), installs scripts/requirements.txt, starts from Debian 12 as setup
# assumes, and builds with scripts/build.
#   tests/deploy/docker_test.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: docker_test.sh SOURCE_DIR}
fail() { echo "FAIL: $*" >&2; exit 1; }

# Words of a bash array assignment NAME=( ... ) in FILE, comments dropped.
setup_packages() {
  sed -n '/^APT_PACKAGES=(/,/^)/p' "$1" | sed -e '1d' -e '$d' -e 's/#.*//' | tr -s ' \t' '\n' |
    sed '/^$/d' | sort -u
}
# Packages of the first `apt-get install` RUN after the "# apt-packages:" marker.
docker_packages() {
  awk '/^# apt-packages:/ { on = 1; next }
       on && /apt-get install/ { inst = 1 }
       inst { print; if ($0 !~ /\\$/) exit }' "$1" |
    sed -e 's/.*apt-get install//' -e 's/&&.*//' -e 's/\\$//' | tr -s ' \t' '\n' |
    grep -v '^-' | sed '/^$/d' | sort -u
}

want=$(setup_packages "$src/scripts/setup")
[ "$(wc -l <<<"$want")" -gt 10 ] || fail "could not read APT_PACKAGES from scripts/setup"
extra_allowed="ca-certificates wget"
for f in "$src"/deploy/docker/Dockerfile.cpu "$src"/deploy/docker/Dockerfile.cuda; do
  name=$(basename "$f")
  got=$(docker_packages "$f")
  missing=$(comm -23 <(echo "$want") <(echo "$got"))
  extra=$(comm -13 <(echo "$want") <(echo "$got"))
  for p in $extra_allowed; do extra=$(grep -vx "$p" <<<"$extra" || true); done
  [ -z "$missing" ] || fail "$name lacks scripts/setup packages: $(echo "$missing" | xargs)"
  [ -z "$extra" ] || fail "$name installs packages scripts/setup does not: $(echo "$extra" | xargs)"
  grep -q '^FROM debian:12' "$f" || fail "$name does not start from Debian 12 as scripts/setup assumes"
  grep -q 'COPY scripts/requirements.txt' "$f" || fail "$name does not copy scripts/requirements.txt"
  grep -q -- '-r /tmp/requirements.txt' "$f" ||
    fail "$name does not install scripts/requirements.txt"
  grep -q 'scripts/build' "$f" || fail "$name does not build with scripts/build"
  [ -f "$f.dockerignore" ] || fail "$name has no $name.dockerignore (the build trees would be sent)"
  echo "$name: $(wc -l <<<"$got") packages, in sync with scripts/setup"
done
grep -q 'RLVR_CUDA=ON' "$src/deploy/docker/Dockerfile.cuda" || fail "Dockerfile.cuda does not build CUDA"
echo PASS
