#!/usr/bin/env bash
# Vendors the front-end assets into static/vendor/ from the npm registry, and the browser
# tracking SDKs the tests drive into tests/browser/sdk/ (test fixtures: Vitals serves none).
# The result is committed: at run time Vitals never loads anything from a CDN.
# To upgrade, change a version below, run this script and commit both folders.
set -euo pipefail

BOOTSTRAP_VERSION="5.3.8"
HTMX_VERSION="2.0.11"  # htmx 2 on purpose: django-htmx and our hx-* usage target 2.x
ANALYTICS_NEXT_VERSION="1.84.3"  # @segment/analytics-next: what analytics.js is today
RUDDERSTACK_JS_VERSION="3.34.1"  # @rudderstack/analytics-js (v3)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vendor_dir="$repo_root/static/vendor"
sdk_dir="$repo_root/tests/browser/sdk"
work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT

# fetch NAME VERSION: unpacks the package tarball into $work_dir/NAME/package
fetch() {
    local name="$1" version="$2"
    mkdir -p "$work_dir/$name"
    (cd "$work_dir/$name" && npm pack --silent "$name@$version" >/dev/null && tar -xzf ./*.tgz)
}

fetch bootstrap "$BOOTSTRAP_VERSION"
fetch htmx.org "$HTMX_VERSION"

rm -rf "$vendor_dir/bootstrap" "$vendor_dir/htmx"
mkdir -p "$vendor_dir/bootstrap/css" "$vendor_dir/bootstrap/js" "$vendor_dir/htmx"

bs="$work_dir/bootstrap/package"
cp "$bs/dist/css/bootstrap.min.css" "$vendor_dir/bootstrap/css/"
cp "$bs/dist/js/bootstrap.bundle.min.js" "$vendor_dir/bootstrap/js/"
cp "$bs/LICENSE" "$vendor_dir/bootstrap/LICENSE"
echo "bootstrap@$BOOTSTRAP_VERSION" > "$vendor_dir/bootstrap/VERSION"

hx="$work_dir/htmx.org/package"
cp "$hx/dist/htmx.min.js" "$vendor_dir/htmx/"
cp "$hx/LICENSE" "$vendor_dir/htmx/LICENSE"
echo "htmx.org@$HTMX_VERSION" > "$vendor_dir/htmx/VERSION"

# The packages point at .map files we do not ship; the manifest storage of
# `collectstatic` rewrites every sourceMappingURL and fails on a missing target.
find "$vendor_dir" -name '*.min.*' -exec sed -i '/sourceMappingURL=/d' {} +


# --- test fixtures: the browser SDKs (tests/browser/test_browser_sdks.py) ---
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

echo "Vendored bootstrap@$BOOTSTRAP_VERSION and htmx.org@$HTMX_VERSION into static/vendor/,"
echo "analytics-next@$ANALYTICS_NEXT_VERSION and analytics-js@$RUDDERSTACK_JS_VERSION into tests/browser/sdk/"
