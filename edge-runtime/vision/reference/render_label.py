#!/usr/bin/env python3
"""Renders printed codes on label stock for the OCR tests, with Pillow's bundled font (so no
system font is needed): dark text, one line per argument.

    render_label.py OUT.png SIZE LINE [LINE...]
"""
import sys

from PIL import Image, ImageDraw, ImageFont

path, size, lines = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
font = ImageFont.load_default(size=size)
step = int(size * 1.8)
img = Image.new("RGB", (700, 60 + len(lines) * step), (246, 243, 232))
draw = ImageDraw.Draw(img)
for i, text in enumerate(lines):
    draw.text((36, 30 + i * step), text, fill=(24, 24, 30), font=font)
img.save(path)
