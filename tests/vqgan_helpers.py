"""Helpers for the vqgan training tests: the flags of a tiny VQGAN and the images it learns."""

from PIL import Image, ImageDraw

TINY = ["--image-size", "16", "--ch", "32", "--ch-mult", "1,1", "--num-res-blocks", "1", "--codebook-size", "8",
        "--embed-dim", "4", "--z-channels", "8", "--batch-size", "2", "--device", "cpu", "--threads", "1"]
COLOURS = [(220, 40, 40), (40, 170, 60), (40, 90, 220), (240, 220, 40)]


def square(index):
    image = Image.new("RGB", (16, 16), (0, 0, 0) if index % 2 else (255, 255, 255))
    ImageDraw.Draw(image).rectangle([3 + index % 4, 4, 10 + index % 4, 11], fill=COLOURS[index % 4])
    return image
