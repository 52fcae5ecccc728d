"""make sample LABELS=...: classes by name (any case) or id, and a one-line error listing the valid names."""
import numpy as np
import pytest

from tfgan_cifar.errors import UsageError
from tfgan_cifar.sample import parse_labels

META = dict(model="acgan", conditional=True, num_classes=10, classes=None,
            class_names=["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"])


def test_labels_by_name_or_id_repeat_to_n():
    np.testing.assert_array_equal(parse_labels("cat,Ship", 5, META), [3, 8, 3, 8, 3])
    np.testing.assert_array_equal(parse_labels("3, 8 ,truck", 3, META), [3, 8, 9])
    np.testing.assert_array_equal(parse_labels("", 4, dict(META, num_classes=2, class_names=["a", "b"])), [0, 0, 1, 1])


def test_an_unknown_class_lists_the_valid_names():
    with pytest.raises(UsageError) as info:
        parse_labels("cat,zebra", 4, META)
    assert str(info.value) == ("--labels: unknown class 'zebra'; acgan knows: 0=airplane, 1=automobile, 2=bird, 3=cat, "
                               "4=deer, 5=dog, 6=frog, 7=horse, 8=ship, 9=truck")
    with pytest.raises(UsageError, match="class id 10 is not in 0..9"):
        parse_labels("10", 4, META)
    with pytest.raises(UsageError, match="applies only to conditional models"):
        parse_labels("cat", 4, dict(META, conditional=False, model="dcgan"))
