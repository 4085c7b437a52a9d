// dataset_registry.h — the dataset names users type, and where their files live.
//
//   cifar10, cifar100            CIFAR binary files under <root>/cifar-10-batches-bin/ and
//                                <root>/cifar-100-binary/, downloaded when missing
//   cifar10_lt, cifar100_lt      long-tailed training split (LongTailOptions), test balanced
//   fashion_mnist(_lt)           <root>/fashion-mnist/ or Debian's /usr/share/datasets/fashion-mnist
//   image_folder:<path>          see image_folder.h
//   synthetic                    generated from SyntheticOptions
// <root> is DatasetOptions::root, else $CONTRA_DATA, else ./data.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/download.h"
#include "data/image_folder.h"
#include "data/long_tail.h"
#include "data/synthetic.h"

namespace contra::data {

struct DatasetOptions {
  std::string root;                      // "" = $CONTRA_DATA or ./data
  DownloadOptions download;
  std::optional<RemoteArchive> archive;  // replaces the known URL/size/MD5 (tests use file://)
  LongTailOptions long_tail;             // for the *_lt names
  SyntheticOptions synthetic;
  ImageFolderOptions image_folder;
};

DatasetSplits open_dataset(const std::string& name, const DatasetOptions& options = {});

// The names accepted by open_dataset (image_folder shown as "image_folder:<path>").
const std::vector<std::string>& dataset_names();
std::string default_data_root();

// The published archives (URL, size, MD5, files they contain).
RemoteArchive cifar10_archive();
RemoteArchive cifar100_archive();
DatasetSplits load_cifar(int variant, const std::string& root, const DownloadOptions& download,
                         const std::optional<RemoteArchive>& archive = std::nullopt);

// Per-channel mean and std of the training images, as the literature uses them.
struct ChannelStats {
  std::vector<float> mean, std;
};
// Known stats for cifar10*, cifar100*, fashion_mnist*; otherwise computed from `train`.
ChannelStats dataset_stats(const std::string& name, const Dataset& train);
ChannelStats compute_stats(const Dataset& d);

}  // namespace contra::data
