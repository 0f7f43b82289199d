/*
 *  salpynnmodule.cpp  --  part of salpynn (GPL-2.0-or-later)
 *
 *  The NEST extension module that registers salpynn's models.  NEST 3.10 looks
 *  up the global object <modulename>_LTX_module after loading the library.
 */

#include "nest_extension_interface.h"

#include "dendritic_prediction_synapse.h"
#include "sal_synapse.h"
#include "sampling_monitor.h"
#include "sampling_networks.h"
#include "sampling_neuron.h"

namespace salpynn
{

void
register_sal_synapse( const std::string& name )
{
  nest::register_connection_model< sal_synapse >( name );
}

void
register_dendritic_prediction_synapse( const std::string& name )
{
  nest::register_connection_model< dendritic_prediction_synapse >( name );
}

void
register_sampling_neuron( const std::string& name )
{
  nest::register_node_model< sampling_neuron >( name );
}

void
register_sampling_monitor( const std::string& name )
{
  nest::register_node_model< sampling_monitor >( name );
}

void
register_sampling_networks( const std::string& name )
{
  nest::register_node_model< sampling_networks >( name );
}

class SalpynnModule : public nest::NESTExtensionInterface
{
public:
  void
  initialize() override
  {
    register_sal_synapse( "sal_synapse" );
    register_sampling_neuron( "sampling_neuron" );
    register_sampling_monitor( "sampling_monitor" );
    register_sampling_networks( "sampling_networks" );
    register_dendritic_prediction_synapse( "dendritic_prediction_synapse" );
  }
};

} // namespace salpynn

salpynn::SalpynnModule salpynnmodule_LTX_module;
