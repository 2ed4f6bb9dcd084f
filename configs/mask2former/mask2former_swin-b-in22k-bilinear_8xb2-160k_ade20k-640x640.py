# Mask2Former Swin-B (ImageNet-22K, 384), ADE20K 640x640, 160k: the bilinear
# baseline is mmseg's config unchanged (MSDeformAttnPixelDecoder). The other
# rows inherit it and change only the pixel decoder's 1/8 -> 1/4 step.
_base_ = 'mmseg::mask2former/mask2former_swin-b-in22k-384x384-pre_8xb2-160k_ade20k-640x640.py'  # noqa
custom_imports = dict(imports=['sapa_mm'], allow_failed_imports=False)
