# The README's Quick start: python -m hpo_kit.examples.quickstart (or save it as quick.py and run that).
import torch
import torch.nn.functional as F

from hpo_kit import Categorical, Integer, Real, Study
from hpo_kit.examples import digits


def objective(config, reporter):              # one trial; runs on a Dask worker
    x, y, x_val, y_val = reporter.data        # what data=digits returned (torch tensors), loaded once per worker
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[config["activation"]]
    model = torch.nn.Sequential(torch.nn.Linear(64, config["width"]), act(), torch.nn.Linear(config["width"], 10))
    opt = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)
    for epoch in range(1, reporter.max_epochs + 1):
        for batch in torch.randperm(len(x)).split(config["batch_size"]):
            opt.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()
        with torch.no_grad():
            out = model(x_val)
        reporter.report(epoch=epoch, val_loss=F.cross_entropy(out, y_val).item(),
                        val_acc=(out.argmax(1) == y_val).float().mean().item())


space = {"lr": Real(1e-3, 1.0, log=True), "width": Integer(16, 256, log=True),
         "activation": Categorical(["relu", "tanh"]), "batch_size": Categorical([32, 64, 128])}

if __name__ == "__main__":  # required in a script: the cluster's worker processes import this file
    study = Study(objective, space, metric="val_loss", mode="min", n_trials=8, max_epochs=5, data=digits)
    study.run()             # blocks with a progress bar; study.start() runs it in the background instead
    print(study.results[["status", "score", "last.val_acc", "config.lr", "config.width"]])
    print("best:", study.best_trial.config)
