#!/bin/sh
# Takes a picture of a saved /report page: docs/images/report-screenshot.sh HTML_FILE OUT_PNG
#
# Headless Chromium (Debian's chromium) loads HTML_FILE as a file:// URL in a window 1200 pixels
# wide (REPORT_SCREENSHOT_WIDTH), measures the page's height with a copy of it that reports its
# own height, and takes the whole page, cut at 3000 pixels (REPORT_SCREENSHOT_MAX_HEIGHT). The
# PNG is then reduced to a 64-colour palette with pngquant (Debian's pngquant) to keep it small.
# The page itself needs no script: the measuring copy is thrown away.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 HTML_FILE OUT_PNG" >&2
    exit 2
fi
html=$1
out=$2
width=${REPORT_SCREENSHOT_WIDTH:-1200}
max_height=${REPORT_SCREENSHOT_MAX_HEIGHT:-3000}

for tool in chromium pngquant; do
    if ! command -v "$tool" >/dev/null; then
        echo "$0: $tool is missing (apt-get install $tool)" >&2
        exit 1
    fi
done
if [ ! -s "$html" ]; then
    echo "$0: $html is missing or empty" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
page=$(realpath "$html")

# The flags of tests/report_browser.rs, and a profile of its own.
browse() {
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --hide-scrollbars --force-device-scale-factor=1 \
        --user-data-dir="$work/profile" "$@" 2>"$work/chromium.log"
}

# The page's height at this width: a copy with a script that writes it into the DOM.
cp "$page" "$work/measure.html"
printf '%s\n' '<script>document.body.setAttribute("data-page-height",' \
    'String(document.documentElement.scrollHeight));</script>' >>"$work/measure.html"
height=$(browse --window-size="$width,800" --dump-dom "file://$work/measure.html" |
    sed -n 's/.*data-page-height="\([0-9]*\)".*/\1/p' | head -n 1)
if [ -z "$height" ]; then
    echo "$0: chromium did not measure $html:" >&2
    cat "$work/chromium.log" >&2
    exit 1
fi
if [ "$height" -gt "$max_height" ]; then
    height=$max_height
fi

browse --window-size="$width,$height" --screenshot="$work/page.png" "file://$page"
if [ ! -s "$work/page.png" ]; then
    echo "$0: chromium took no screenshot of $html:" >&2
    cat "$work/chromium.log" >&2
    exit 1
fi
pngquant --force --strip --speed 1 64 --output "$work/small.png" -- "$work/page.png"
mkdir -p "$(dirname "$out")"
cp "$work/small.png" "$out"
echo "$out: ${width}x$height, $(wc -c <"$out") bytes"
