// image_folder.h — datasets from image files: class folders and list files.
//
//   folder:    root/<class>/<file>.{jpg,jpeg,png}; classes are the sub-folder names in
//              sorted order (label = position), files sorted within a class.
//   list file: one `relative/path label` per line (ImageNet-LT style), paths relative to
//              `root`; blank lines and lines starting with '#' are skipped; the number of
//              classes is max label + 1 (or `num_classes` when given).
// Images decode to `channels` (1 or 3). With `image_size` S > 0 every image is resized so
// its shorter side is S (Pillow-style antialiased bilinear) and centre-cropped to S×S;
// with S = 0 all images must already share one size (an error names the first misfit).
#pragma once

#include <string>

#include "data/dataset.h"

namespace contra::data {

struct ImageFolderOptions {
  int channels = 3;
  int image_size = 0;   // 0 = keep (all images must match)
  int num_classes = 0;  // list files only; 0 = max label + 1
};

Dataset load_image_folder(const std::string& root, const ImageFolderOptions& options,
                          std::string name);
Dataset load_image_list(const std::string& list_file, const std::string& root,
                        const ImageFolderOptions& options, std::string name);

// `<path>/train` + `<path>/test` (or `val`) class folders, or `<path>/train.txt` +
// `<path>/test.txt` (or `val.txt`) list files, or `<path>` itself as the training split
// (then the test split is empty: zero images, same classes).
DatasetSplits open_image_folder_splits(const std::string& path, const ImageFolderOptions& options);

}  // namespace contra::data
