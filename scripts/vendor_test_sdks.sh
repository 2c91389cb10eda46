#!/usr/bin/env bash
# Vendors the browser tracking SDKs the tests drive (tests/browser/test_browser_sdks.py) into
# tests/browser/sdk/ from the npm registry. Test fixtures only: Vitals serves none of it.
# To upgrade, change a version below, run this script and commit tests/browser/sdk/.
set -euo pipefail

ANALYTICS_NEXT_VERSION="1.84.3"  # @segment/analytics-next: what analytics.js is today
RUDDERSTACK_JS_VERSION="3.34.1"  # @rudderstack/analytics-js (v3)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sdk_dir="$repo_root/tests/browser/sdk"
work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT

# fetch NAME VERSION: unpacks the package tarball into $work_dir/NAME/package
fetch() {
    local name="$1" version="$2"
    mkdir -p "$work_dir/$name"
    (cd "$work_dir/$name" && npm pack --silent "$name@$version" >/dev/null && tar -xzf ./*.tgz)
}

fetch @segment/analytics-next "$ANALYTICS_NEXT_VERSION"
fetch @rudderstack/analytics-js "$RUDDERSTACK_JS_VERSION"

target="$sdk_dir/analytics-next"
rm -rf "$target"
mkdir -p "$target"
# The UMD build and the chunks it loads on demand (no source maps, no pre-gzipped copies).
find "$work_dir/@segment/analytics-next/package/dist/umd" -maxdepth 1 -name '*.js' ! -name 'standalone.js' \
    -exec cp {} "$target/" \;
cp "$work_dir/@segment/analytics-next/package/LICENSE.MD" "$target/LICENSE.MD"
echo "@segment/analytics-next@$ANALYTICS_NEXT_VERSION" > "$target/VERSION"

# The build with its plugins bundled: the default one loads them from RudderStack's CDN.
target="$sdk_dir/rudderstack"
rudder="$work_dir/@rudderstack/analytics-js/package"
rm -rf "$target"
mkdir -p "$target"
cp "$rudder/dist/npm/modern/bundled/umd/index.js" "$target/index.js"
cp "$rudder/LICENSE.md" "$target/LICENSE.md"
echo "@rudderstack/analytics-js@$RUDDERSTACK_JS_VERSION (modern, bundled UMD)" > "$target/VERSION"
