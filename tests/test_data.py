import pytest
import torch

from funcsim_lib.config import DataConfig
from funcsim_lib.data import CIFAR10_CLASSES, augment, load_dataset


def test_digits_split_fixed_and_stratified():
    a = load_dataset(DataConfig())
    b = load_dataset(DataConfig())
    assert a.train_x.shape == (1437, 1, 8, 8)
    assert a.test_x.shape == (360, 1, 8, 8)
    assert torch.equal(a.test_x, b.test_x)
    counts = torch.bincount(a.test_y, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37


def test_digits_normalised_with_training_statistics():
    data = load_dataset(DataConfig())
    assert abs(float(data.train_x.mean())) < 1e-5
    assert abs(float(data.train_x.std()) - 1.0) < 1e-3


def test_subset_is_stratified():
    data = load_dataset(DataConfig(n_train=200, n_test=50))
    assert len(data.train_y) == 200
    assert torch.bincount(data.train_y, minlength=10).min() >= 19


def test_subset_larger_than_data_rejected():
    with pytest.raises(ValueError, match="data.n_test must be at most 360"):
        load_dataset(DataConfig(n_test=1000))


def test_missing_cifar10_folder_names_fix(tmp_path):
    config = DataConfig(name="cifar10", root=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="data.download=True"):
        load_dataset(config)


def test_cifar10_image_folders(cifar10_root):
    config = DataConfig(name="cifar10", root=str(cifar10_root), n_train=100, n_test=50)
    data = load_dataset(config)
    assert data.train_x.shape == (100, 3, 32, 32)
    assert data.classes[0] == "airplane" and data.classes[-1] == "truck"
    assert torch.bincount(data.test_y, minlength=10).tolist() == [5] * 10


def test_augment_deterministic_per_generator():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    a = augment(x, torch.Generator().manual_seed(3), crop_padding=1, hflip=True)
    b = augment(x, torch.Generator().manual_seed(3), crop_padding=1, hflip=True)
    assert torch.equal(a, b)
    assert a.shape == x.shape


def test_augment_crop_is_a_shift_of_the_padded_image():
    x = torch.randn(8, 3, 6, 6)
    out = augment(x, torch.Generator().manual_seed(0), crop_padding=2, hflip=False)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(len(x)):
        matches = [
            torch.equal(out[i], padded[i, :, r : r + 6, c : c + 6])
            for r in range(5)
            for c in range(5)
        ]
        assert any(matches)


def test_augment_off_returns_input():
    x = torch.randn(2, 1, 8, 8)
    assert augment(x, torch.Generator(), 0, False) is x


def test_non_image_in_class_folder_named(tmp_path):
    from PIL import Image

    for split in ("train", "test"):
        for name in CIFAR10_CLASSES:
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (32, 32), (i, 0, 0)).save(folder / f"{i}.png")
    bogus = tmp_path / "train" / "cat" / "notes.jpg"
    bogus.write_text("not an image")
    config = DataConfig(name="cifar10", root=str(tmp_path))
    with pytest.raises(ValueError) as error:
        load_dataset(config)
    message = str(error.value)
    assert f"cannot read {bogus} as an image" in message
    assert "must contain image files only" in message
