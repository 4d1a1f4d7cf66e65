"""How good a model is: the metrics (MSE and MAE summed over pixels, SSIM, PSNR, pixel accuracy, the training
loss), scoring a model and the baselines window by window, and `framecast evaluate`'s report. Imports
inference/, model/, data/ and the foundation."""
