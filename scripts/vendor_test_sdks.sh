#!/usr/bin/env bash
# Vendors the browser tracking SDKs the tests drive (tests/browser/test_browser_sdks.py) into
# tests/browser/sdk/ from the npm registry. Test fixtures only: Vitals serves none of it.
# To upgrade, change a version below, run this script and commit tests/browser/sdk/.
set -euo pipefail

ANALYTICS_NEXT_VERSION="1.84.3"  # @segment/analytics-next: what analytics.js is today

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sdk_dir="$repo_root/tests/browser/sdk"
work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT

(cd "$work_dir" && npm pack --silent "@segment/analytics-next@$ANALYTICS_NEXT_VERSION" >/dev/null \
    && tar -xzf ./*.tgz)

target="$sdk_dir/analytics-next"
rm -rf "$target"
mkdir -p "$target"
# The UMD build and the chunks it loads on demand (no source maps, no pre-gzipped copies).
find "$work_dir/package/dist/umd" -maxdepth 1 -name '*.js' ! -name 'standalone.js' \
    -exec cp {} "$target/" \;
cp "$work_dir/package/LICENSE.MD" "$target/LICENSE.MD"
echo "@segment/analytics-next@$ANALYTICS_NEXT_VERSION" > "$target/VERSION"
